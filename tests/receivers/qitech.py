"""Seed 001's receiver check (python-jose), run over one captured delivery.

The seed's steps, in its order: its imports; "Define variables" (here the
captured request: its headers and the JSON body a framework would hand
over); the public key (ours, from GET /api/v1/webhook/public-key/); the
decryption; the validations, unchanged except the expected `uri`.

argv: the expected uri. stdin: {"public_key": "<PEM body lines>", "headers": {…}, "body": "<raw body>"}
Exits 0 when every assertion holds.
"""
import json
import sys

captured = json.load(sys.stdin)
EXPECTED_URI = sys.argv[1]

# ---- seed 001: Import libraries ----
import json
from datetime import datetime, timedelta
from hashlib import md5
from jose import jwt

# ---- seed 001: Define variables (the captured request) ----
headers = captured["headers"]
body = json.loads(captured["body"])
authorization = headers.get("AUTHORIZATION")

# ---- seed 001: the public key ----
QI_PUBLIC_KEY = captured["public_key"]
qi_public_key = f"""-----BEGIN PUBLIC KEY-----
{QI_PUBLIC_KEY}
-----END PUBLIC KEY-----"""

# ---- seed 001: Decrypt the header ----
try:
    decoded_header = jwt.decode(token=authorization, key=qi_public_key)
except:
    raise Exception("Decodification failed.")

# ---- seed 001: Performing Validations (uri: ours) ----
assert decoded_header.get("method") == "POST"
assert decoded_header.get("uri") == EXPECTED_URI
assert (
    decoded_header.get("payload_md5")
    == md5(json.dumps(body).encode()).hexdigest()
)
assert (
    (datetime.now() - timedelta(minutes=5))
    < datetime.strptime(decoded_header.get("timestamp"), "%Y-%m-%dT%H:%M:%S.%fZ")
    < (datetime.now() + timedelta(minutes=5))
)
print("ok")
