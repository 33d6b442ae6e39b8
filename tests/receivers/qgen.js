// Seed 000's receiver: its validateWebhook, verbatim, run over captured
// deliveries (headers under the names the seed uses).
//
// stdin: a JSON list of {"secret", "headers": {SignatureHeaderKey, …}, "body": "<raw body>"}
// stdout: a JSON list, per case: true, or the error message.

// ---- seed 000, unchanged ----
const crypto = require("crypto");

function validateWebhook(headers, body, secretKey) {
  const signature = headers["SignatureHeaderKey"];
  const timestamp = headers["SignatureHeaderTimestampKey"];
  const endpoint = headers["SignatureHeaderEndpoint"];

  if (!signature || !timestamp || !endpoint) {
    throw new Error("Missing required headers");
  }

  // Reconstruct the data to sign
  const sortedBody = JSON.stringify(
    Object.keys(body)
      .sort()
      .reduce((obj, key) => {
        obj[key] = body[key];
        return obj;
      }, {})
  );

  const data = timestamp + "POST" + endpoint + sortedBody;

  // Compute HMAC signature
  const computedSignature = crypto
    .createHmac("sha256", secretKey)
    .update(data)
    .digest("hex");

  // Compare signatures
  if (signature !== computedSignature) {
    throw new Error("Invalid HMAC signature");
  }

  return true;
}
// ---- end of seed 000 ----

let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const results = JSON.parse(input).map((c) => {
    try {
      // A receiver's framework hands it the parsed JSON body.
      return validateWebhook(c.headers, JSON.parse(c.body), c.secret);
    } catch (e) {
      return String(e.message);
    }
  });
  console.log(JSON.stringify(results));
});
