"""Verifies captured deliveries with the `standardwebhooks` package (the
Standard Webhooks reference library), as a receiver would.

stdin: a JSON list of {"secret": "whsec_…", "headers": {…}, "body": "<raw body>"}
stdout: a JSON list, per case: true, or the library's error message.
"""
import json
import sys

from standardwebhooks.webhooks import Webhook

results = []
for case in json.load(sys.stdin):
    try:
        Webhook(case["secret"]).verify(case["body"], case["headers"])
        results.append(True)
    except Exception as e:  # the library raises WebhookVerificationError
        results.append(f"{type(e).__name__}: {e}")
print(json.dumps(results))
