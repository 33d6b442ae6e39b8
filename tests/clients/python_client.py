#!/usr/bin/env python3
"""The seed's Python example, runnable: posts one signed order.

Reads BASE_URL (default http://localhost:5150) and API_KEY from the
environment. Signs json.dumps(payload).encode() and sends json=payload, exactly
as the documented example does (requests serialises it to the same bytes).
Prints the JSON answer; exits non-zero unless 201 and status == "success".
"""
import hashlib
import hmac
import json
import os
import sys
import uuid

import requests

base_url = os.environ.get("BASE_URL", "http://localhost:5150").rstrip("/")
api_key = os.environ.get("API_KEY")
if not api_key:
    sys.exit("API_KEY is not set")

payload = {
    "customer_details": {
        "name": "John Doe",
        "email": "john@example.com",
        "phone": "+2348123456789",
    },
    "item_summary": "iPhone 15 x2",
    "address": "123 Main St, Lagos",
    "tracking_status": "PENDING",
    "external_order_id": os.environ.get("ORDER_ID", "py-" + uuid.uuid4().hex),
}

payload_bytes = json.dumps(payload).encode()
signature = hmac.new(
    api_key.encode(),
    payload_bytes,
    hashlib.sha256
).hexdigest()

headers = {
    "X-API-Key": api_key,
    "X-Webhook-Signature": signature,
    "Content-Type": "application/json"
}

response = requests.post(
    f"{base_url}/api/v1/webhooks/orders/",
    json=payload,
    headers=headers,
    timeout=60,
)
try:
    answer = response.json()
except ValueError:
    answer = {"raw": response.text}
print(json.dumps(answer))  # {"status": "success", "order_id": "..."}
if response.status_code != 201 or answer.get("status") != "success":
    print(f"expected 201 success, got {response.status_code}", file=sys.stderr)
    sys.exit(1)
