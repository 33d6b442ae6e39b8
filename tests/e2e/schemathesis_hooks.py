"""schemathesis hooks (loaded through SCHEMATHESIS_HOOKS by tests/e2e/schemathesis.rs).

The order webhook answers 401 to anything not signed with the company's key,
so without these hooks schemathesis never gets past authentication there.
On the order webhook operations this signs the exact bytes `requests` sends:
X-API-Key is the key in MOF_FUZZ_API_KEY and X-Webhook-Signature is
hex(HMAC-SHA256(key, body)), or over `<timestamp>.<body>` when the case sends
an X-Webhook-Timestamp (a numeric one is made current, so it is not stale; a
blank one counts as none, as on the server; a malformed one is kept, and
refused).

It signs through a `requests` auth object because auth runs after the body
is serialized: the signature then covers the bytes on the wire, whatever
content type or body schemathesis generated.
"""

import hashlib
import hmac
import os
import time

import requests
import schemathesis

SIGNED_PATHS = ("/api/v1/webhooks/orders", "/api/v1/webhooks/orders/status")


class SignBody(requests.auth.AuthBase):
    def __init__(self, key: str):
        self.key = key

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        body = r.body or b""
        if isinstance(body, str):
            body = body.encode("utf-8")
        elif not isinstance(body, bytes):  # a generator or file: nothing to sign reliably
            return r
        r.headers["X-API-Key"] = self.key
        ts = r.headers.get("X-Webhook-Timestamp")
        if ts is not None and not ts.strip():
            ts = None  # the server reads a blank timestamp as none
        elif ts is not None and ts.strip().isdigit():
            ts = str(int(time.time()))
            r.headers["X-Webhook-Timestamp"] = ts
        signed = body if ts is None else ts.encode("utf-8", "replace") + b"." + body
        r.headers["X-Webhook-Signature"] = hmac.new(
            self.key.encode("utf-8"), signed, hashlib.sha256
        ).hexdigest()
        return r


@schemathesis.hook
def before_call(context, case, kwargs):
    key = os.environ.get("MOF_FUZZ_API_KEY")
    if key and case.operation.method.upper() == "POST" and case.operation.path in SIGNED_PATHS:
        kwargs["auth"] = SignBody(key)

