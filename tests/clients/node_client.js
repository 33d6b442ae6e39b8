#!/usr/bin/env node
// The seed's Node.js example, runnable with only built-ins: `crypto` signs,
// `fetch` (Node 18+) replaces axios. Posts one signed order.
//
// Reads BASE_URL (default http://localhost:5150) and API_KEY from the
// environment. Prints the JSON answer; exits non-zero unless 201 and
// status == "success".
const crypto = require('crypto');

const baseUrl = (process.env.BASE_URL || 'http://localhost:5150').replace(/\/+$/, '');
const apiKey = process.env.API_KEY;
if (!apiKey) {
  console.error('API_KEY is not set');
  process.exit(2);
}

const payload = {
  customer_details: {
    name: 'John Doe',
    email: 'john@example.com',
    phone: '+2348123456789',
  },
  item_summary: 'iPhone 15 x2',
  address: '123 Main St, Lagos',
  tracking_status: 'PENDING',
  external_order_id: process.env.ORDER_ID || `node-${crypto.randomUUID()}`,
};
const payloadBytes = JSON.stringify(payload);

const signature = crypto
  .createHmac('sha256', apiKey)
  .update(payloadBytes)
  .digest('hex');

const headers = {
  'X-API-Key': apiKey,
  'X-Webhook-Signature': signature,
  'Content-Type': 'application/json',
};

(async () => {
  // axios would serialise `payload` with JSON.stringify: the same bytes.
  const res = await fetch(`${baseUrl}/api/v1/webhooks/orders/`, {
    method: 'POST',
    headers,
    body: payloadBytes,
  });
  const text = await res.text();
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    data = { raw: text };
  }
  console.log(JSON.stringify(data));
  if (res.status !== 201 || data.status !== 'success') {
    console.error(`expected 201 success, got ${res.status}`);
    process.exit(1);
  }
})().catch((err) => {
  console.error(`request failed: ${err.message}`);
  process.exit(1);
});
