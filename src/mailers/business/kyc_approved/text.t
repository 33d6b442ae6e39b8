Hello {{ name }},

Good news: the KYC review of {{ business_name }} is approved. Your webhook secret is ready: fetch it from GET /api/v1/webhook/secret/ and start sending orders.
