// Progressive enhancement for the dashboard: a "Copy" button after each
// element marked `data-copy` (the read-only secret field, the test order's
// curl command). Without JavaScript the field stays selectable by hand.
// Loaded from /static (script-src 'self'); no inline script, no build step.
(function () {
  "use strict";

  function textOf(el) {
    return "value" in el && el.tagName !== "PRE" ? el.value : el.textContent;
  }

  function fallbackCopy(el, text) {
    // Older browsers, or a page not served over https/localhost.
    if (el.select) {
      el.focus();
      el.select();
    } else {
      var range = document.createRange();
      range.selectNodeContents(el);
      var sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
    }
    try {
      return document.execCommand("copy") ? Promise.resolve() : Promise.reject();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  function copy(el) {
    var text = textOf(el);
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () {
        return fallbackCopy(el, text);
      });
    }
    return fallbackCopy(el, text);
  }

  function enhance(el) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "Copy";
    var label = el.getAttribute("data-copy");
    if (label) {
      button.setAttribute("aria-label", "Copy " + label);
    }
    var status = document.createElement("span");
    status.className = "copy-status";
    status.setAttribute("role", "status");
    status.setAttribute("aria-live", "polite");
    button.addEventListener("click", function () {
      copy(el).then(
        function () {
          status.textContent = "Copied.";
        },
        function () {
          status.textContent = "Press Ctrl+C (or Cmd+C) to copy the selected text.";
        }
      );
    });
    el.insertAdjacentElement("afterend", status);
    el.insertAdjacentElement("afterend", button);
  }

  function init() {
    var marked = document.querySelectorAll("[data-copy]");
    for (var i = 0; i < marked.length; i++) {
      enhance(marked[i]);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
