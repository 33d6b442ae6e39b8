Hello {{ name }},

We stopped sending events to your endpoint {{ endpoint_id }}: {{ reason }}. Events are still recorded. Once the endpoint answers again, enable it with PATCH /api/v1/webhook/endpoints/{{ endpoint_id }}/ {"enabled": true} and re-send what it missed with POST /api/v1/webhook/endpoints/{{ endpoint_id }}/recover/.
