#!/usr/bin/env bash
# The seed's cURL example, runnable: posts one signed order.
#
# Reads BASE_URL (default http://localhost:5150) and API_KEY from the
# environment. Prints the JSON answer; exits non-zero unless 201 and
# "status":"success".
set -euo pipefail

BASE_URL="${BASE_URL:-http://localhost:5150}"
BASE_URL="${BASE_URL%/}"
: "${API_KEY:?API_KEY is not set}"
ORDER_ID="${ORDER_ID:-curl-$(date +%s)-$$-$RANDOM}"

PAYLOAD='{"customer_details":{"name":"John Doe","email":"john@example.com","phone":"+2348123456789"},"item_summary":"iPhone 15 x2","address":"123 Main St, Lagos","tracking_status":"PENDING","external_order_id":"'"$ORDER_ID"'"}'
SIGNATURE=$(echo -n "$PAYLOAD" | openssl dgst -sha256 -hmac "$API_KEY" | cut -d' ' -f2)

BODY_FILE=$(mktemp)
trap 'rm -f "$BODY_FILE"' EXIT
STATUS=$(curl -sS -o "$BODY_FILE" -w '%{http_code}' -X POST "$BASE_URL/api/v1/webhooks/orders/" \
  -H "X-API-Key: $API_KEY" \
  -H "X-Webhook-Signature: $SIGNATURE" \
  -H "Content-Type: application/json" \
  -d "$PAYLOAD")

cat "$BODY_FILE"
echo
if [ "$STATUS" != "201" ] || ! grep -q '"status" *: *"success"' "$BODY_FILE"; then
  echo "expected 201 success, got $STATUS" >&2
  exit 1
fi
