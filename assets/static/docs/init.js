// The API reference at /docs: Swagger UI (vendored by scripts/vendor-docs.sh)
// on the document the server generates. No validator badge: it would call
// an outside service.
window.ui = SwaggerUIBundle({
  url: "/api/v1/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  validatorUrl: null,
});
