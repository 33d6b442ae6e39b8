//! Seed 001 (QI Tech): header `AUTHORIZATION` = an ES512 JWT (P-521) whose
//! claims are `payload_md5` (MD5 hex of the body), `timestamp`
//! (`%Y-%m-%dT%H:%M:%S.%fZ`, UTC), `method` and `uri` (the endpoint's path),
//! and `API-CLIENT-KEY` = the endpoint's client key.
//!
//! The seed's receiver hashes `json.dumps(body)` of the parsed body, so the
//! body goes out exactly as Python prints it: `", "` and `": "` separators,
//! non-ASCII (and DEL) escaped as `\uXXXX` with surrogate pairs, and floats
//! in Python's `repr`.

use base64::{engine::general_purpose::STANDARD, Engine as _};
use chrono::{DateTime, Utc};
use md5::{Digest, Md5};
use p521::{
    ecdsa::{signature::Signer as _, Signature, SigningKey, VerifyingKey},
    pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding},
    PublicKey, SecretKey,
};
use serde::Serialize;
use serde_json::ser::Formatter;
use uuid::Uuid;

use super::{
    super::{
        crypto::{b64url, random_bytes},
        DomainError,
    },
    float_parts, mantissa, Envelope,
};

/// Our P-521 key pair for ES512 signatures (`EVENT_SIGNING_KEY`). Never
/// printed: `Debug` is redacted.
#[derive(Clone)]
pub struct EventSigningKey(SigningKey);

impl std::fmt::Debug for EventSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventSigningKey([REDACTED])")
    }
}

impl EventSigningKey {
    /// A fresh key from the OS CSPRNG.
    #[must_use]
    pub fn generate() -> Self {
        loop {
            // A P-521 scalar has 521 bits: 65 bytes and one bit.
            let mut bytes = random_bytes::<66>();
            bytes[0] &= 0x01;
            if let Ok(secret) = SecretKey::from_slice(&bytes) {
                if let Ok(key) = SigningKey::from_bytes(&secret.to_bytes()) {
                    return Self(key);
                }
            }
        }
    }

    /// A PEM private key: PKCS#8 (`BEGIN PRIVATE KEY`) or SEC1 (`BEGIN EC
    /// PRIVATE KEY`). Whitespace inside is ignored, and so are literal `\n`
    /// sequences, so the PEM may come through a one-line environment variable.
    ///
    /// # Errors
    /// When the text is not a P-521 private key.
    pub fn from_pem(pem: &str) -> Result<Self, DomainError> {
        let bad = || DomainError::new("not a P-521 private key in PEM (PKCS#8 or SEC1)");
        let text = pem.replace("\\n", "\n");
        let begin = text.find("-----BEGIN").ok_or_else(bad)?;
        let after_label = text[begin + 10..].find("-----").ok_or_else(bad)? + begin + 15;
        let end = text
            .find("-----END")
            .filter(|&e| e >= after_label)
            .ok_or_else(bad)?;
        let body: String = text[after_label..end]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = STANDARD.decode(body).map_err(|_| bad())?;
        let secret = SecretKey::from_pkcs8_der(&der)
            .or_else(|_| SecretKey::from_sec1_der(&der))
            .map_err(|_| bad())?;
        SigningKey::from_bytes(&secret.to_bytes())
            .map(Self)
            .map_err(|_| bad())
    }

    /// The private key as PKCS#8 PEM (to keep the development key on disk).
    ///
    /// # Errors
    /// Never for a valid key.
    pub fn to_pem(&self) -> Result<String, DomainError> {
        let secret = SecretKey::from_bytes(&self.0.to_bytes())
            .map_err(|e| DomainError::new(e.to_string()))?;
        secret
            .to_pkcs8_pem(LineEnding::LF)
            .map(|pem| pem.to_string())
            .map_err(|e| DomainError::new(e.to_string()))
    }

    fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey::from(&self.0)
    }

    fn public_key(&self) -> Result<PublicKey, DomainError> {
        PublicKey::from_sec1_bytes(self.verifying_key().to_encoded_point(false).as_bytes())
            .map_err(|e| DomainError::new(e.to_string()))
    }

    /// The public key as SPKI PEM (`BEGIN PUBLIC KEY`), what receivers paste.
    ///
    /// # Errors
    /// Never for a valid key.
    pub fn public_key_pem(&self) -> Result<String, DomainError> {
        self.public_key()?
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| DomainError::new(e.to_string()))
    }

    /// A short stable id of the key: the first 16 hex characters of the
    /// SHA-256 of its uncompressed point.
    #[must_use]
    pub fn key_id(&self) -> String {
        let point = self.verifying_key().to_encoded_point(false);
        crate::domain::crypto::sha256_hex(point.as_bytes())[..16].to_string()
    }

    /// The public key as a JWK (RFC 7518 §6.2) for `/.well-known/jwks.json`.
    #[must_use]
    pub fn jwk(&self) -> serde_json::Value {
        let point = self.verifying_key().to_encoded_point(false);
        let coordinate = |c: Option<&p521::FieldBytes>| c.map(|b| b64url(b)).unwrap_or_default();
        serde_json::json!({
            "kty": "EC",
            "crv": "P-521",
            "x": coordinate(point.x()),
            "y": coordinate(point.y()),
            "use": "sig",
            "alg": "ES512",
            "kid": self.key_id(),
        })
    }

    /// `header.claims.signature` with ES512 (SHA-512, then r‖s, 132 bytes).
    fn jwt<T: Serialize>(&self, claims: &T) -> Result<String, DomainError> {
        let header = br#"{"alg":"ES512","typ":"JWT"}"#;
        let claims = serde_json::to_vec(claims).map_err(|e| DomainError::new(e.to_string()))?;
        let input = format!("{}.{}", b64url(header), b64url(&claims));
        let signature: Signature = self.0.sign(input.as_bytes());
        Ok(format!("{input}.{}", b64url(&signature.to_bytes())))
    }
}

/// The seed's claims, in its order.
#[derive(Serialize)]
struct Claims<'a> {
    payload_md5: String,
    timestamp: String,
    method: &'static str,
    uri: &'a str,
}

/// `json.dumps` with Python's defaults: `", "` and `": "`, `ensure_ascii`.
struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        separator(w, first)
    }

    fn begin_object_key<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> std::io::Result<()> {
        separator(w, first)
    }

    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }

    /// serde_json escapes `"`, `\` and control characters as Python does;
    /// what is left to escape is everything outside printable ASCII.
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut units = [0u16; 2];
        for c in fragment.chars() {
            if c.is_ascii() && c != '\u{7f}' {
                w.write_all(&[c as u8])?;
            } else {
                for unit in c.encode_utf16(&mut units) {
                    write!(w, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }

    fn write_f64<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        value: f64,
    ) -> std::io::Result<()> {
        w.write_all(python_float(value).as_bytes())
    }

    fn write_f32<W: ?Sized + std::io::Write>(
        &mut self,
        w: &mut W,
        value: f32,
    ) -> std::io::Result<()> {
        w.write_all(python_float(f64::from(value)).as_bytes())
    }
}

/// Python's item separator, `", "`, before every item but the first.
fn separator<W: ?Sized + std::io::Write>(w: &mut W, first: bool) -> std::io::Result<()> {
    if first {
        Ok(())
    } else {
        w.write_all(b", ")
    }
}

/// Python's `repr(float)` for a finite value.
fn python_float(x: f64) -> String {
    let (negative, digits, point) = float_parts(x);
    let k = i32::try_from(digits.len()).unwrap_or(i32::MAX);
    let body = if -4 < point && point <= 16 {
        if point <= 0 {
            format!("0.{}{digits}", "0".repeat((-point) as usize))
        } else if point >= k {
            format!("{digits}{}.0", "0".repeat((point - k) as usize))
        } else {
            let (int, frac) = digits.split_at(point as usize);
            format!("{int}.{frac}")
        }
    } else {
        let e = point - 1;
        let mantissa = mantissa(&digits);
        format!("{mantissa}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
    };
    if negative {
        format!("-{body}")
    } else {
        body
    }
}

/// `value` exactly as Python's `json.dumps` prints it.
///
/// # Errors
/// When `value` cannot be serialised.
pub fn python_json<T: Serialize>(value: &T) -> Result<Vec<u8>, DomainError> {
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, PythonFormatter);
    value
        .serialize(&mut ser)
        .map_err(|e| DomainError::new(e.to_string()))?;
    Ok(out)
}

/// The body of an event for a qitech endpoint.
///
/// # Errors
/// When the envelope cannot be serialised.
pub fn body(envelope: &Envelope<'_>) -> Result<Vec<u8>, DomainError> {
    python_json(envelope)
}

/// The seed's timestamp: `%Y-%m-%dT%H:%M:%S.%fZ` (microseconds, UTC).
#[must_use]
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S.%6fZ").to_string()
}

/// The seed's two headers for `body` sent to `path` at `now`.
///
/// # Errors
/// Never for a valid key.
#[must_use]
pub fn headers(
    key: &EventSigningKey,
    client_key: Uuid,
    now: DateTime<Utc>,
    path: &str,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    let claims = Claims {
        payload_md5: hex::encode(Md5::digest(body)),
        timestamp: timestamp(now),
        method: "POST",
        uri: path,
    };
    // Serialising four strings cannot fail.
    let jwt = key.jwt(&claims).unwrap_or_default();
    vec![
        ("AUTHORIZATION", jwt),
        ("API-CLIENT-KEY", client_key.to_string()),
    ]
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;
    use p521::ecdsa::signature::Verifier as _;

    use super::*;

    /// Seed 001's token: its header, and its claims' names, order and time format.
    const SEED_JWT: &str = "eyJhbGciOiJFUzUxMiIsInR5cCI6IkpXVCJ9.eyJwYXlsb2FkX21kNSI6IjRhNjAzZjBmMGU3ZGRkZTlkYTJhMGFkM2QzNDFmNzRiIiwidGltZXN0YW1wIjoiMjAyMy0wNi0zMFQxODo1MjoyNy44ODU3MzFaIiwibWV0aG9kIjoiUE9TVCIsInVyaSI6Ii90ZXN0In0.AcNiJqXDdVmlXSbPI6bH41n0KXz9JwVVMgo4Ivqsq5UZjM2WBOTWw3aAvIMAAhjK5OdrURD4cX3dbbnRgzxspUckANRt0hVHRKSkhROHBfZxuTXVfv8oYzwghwiO2MatPBsroC9Vxbh-DEVQJIBigtN9_D5bg8p2-mlVvoxou2I-EwZs";

    fn decode(part: &str) -> Vec<u8> {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(part)
            .unwrap()
    }

    #[test]
    fn tokens_have_the_seeds_shape_and_verify_with_our_public_key() {
        let key = EventSigningKey::generate();
        let seed: Vec<&str> = SEED_JWT.split('.').collect();
        let at = Utc.with_ymd_and_hms(2023, 6, 30, 18, 52, 27).unwrap()
            + chrono::Duration::microseconds(885_731);
        let body = br#"{"body_sample": "Exemplo de webhook"}"#;
        let h = headers(&key, Uuid::nil(), at, "/test", body);
        let ours: Vec<&str> = h[0].1.split('.').collect();
        assert_eq!(ours[0], seed[0], "the same JOSE header");
        let claims: serde_json::Value = serde_json::from_slice(&decode(ours[1])).unwrap();
        let seed_claims: serde_json::Value = serde_json::from_slice(&decode(seed[1])).unwrap();
        assert_eq!(claims["timestamp"], seed_claims["timestamp"]);
        assert_eq!(claims["method"], seed_claims["method"]);
        assert_eq!(claims["uri"], seed_claims["uri"]);
        assert_eq!(claims["payload_md5"], hex::encode(Md5::digest(body)));
        let sig = decode(ours[2]);
        assert_eq!(
            (sig.len(), decode(seed[2]).len()),
            (132, 132),
            "r||s like the seed's"
        );
        let signature = Signature::from_slice(&sig).unwrap();
        let input = format!("{}.{}", ours[0], ours[1]);
        key.verifying_key()
            .verify(input.as_bytes(), &signature)
            .unwrap();
        assert_eq!(h[1], ("API-CLIENT-KEY", Uuid::nil().to_string()));
    }

    /// The seed's body, as its Python check hashes it.
    #[test]
    fn the_seed_body_prints_as_json_dumps() {
        let body = serde_json::json!({"body_sample": "Exemplo de webhook"});
        assert_eq!(
            python_json(&body).unwrap(),
            br#"{"body_sample": "Exemplo de webhook"}"#
        );
    }

    /// Expected output from CPython 3.11's `json.dumps` of the same object.
    #[test]
    fn tricky_values_print_as_json_dumps() {
        let input = r#"{"a": "h\u00e9llo \u2713 \ud83d\ude00 \u2028", "b": "quote \" backslash \\ slash / nl \n tab \t ctrl \u0001 del \u007f", "e": {}, "n": [1, -2, 1.5, 0.1, 1e21, 1e-7, 123.0, 1e16, 0.00001, -0.0, 5e-324, 1.7976931348623157e308, 9007199254740993], "z": {"k": [], "x": true, "y": null}}"#;
        let value: serde_json::Value = serde_json::from_str(input).unwrap();
        let expected = r#"{"a": "h\u00e9llo \u2713 \ud83d\ude00 \u2028", "b": "quote \" backslash \\ slash / nl \n tab \t ctrl \u0001 del \u007f", "e": {}, "n": [1, -2, 1.5, 0.1, 1e+21, 1e-07, 123.0, 1e+16, 1e-05, -0.0, 5e-324, 1.7976931348623157e+308, 9007199254740993], "z": {"k": [], "x": true, "y": null}}"#;
        assert_eq!(
            String::from_utf8(python_json(&value).unwrap()).unwrap(),
            expected
        );
    }

    #[test]
    fn python_floats() {
        for (x, py) in [
            (0.0, "0.0"),
            (1e16, "1e+16"),
            (9_999_999_999_999_998.0, "9999999999999998.0"),
            (0.000_1, "0.0001"),
            (-2.5, "-2.5"),
            (1.5e300, "1.5e+300"),
        ] {
            assert_eq!(python_float(x), py, "{x}");
        }
    }

    #[test]
    fn keys_round_trip_through_pem_and_never_print() {
        let key = EventSigningKey::generate();
        let pem = key.to_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let again = EventSigningKey::from_pem(&pem).unwrap();
        assert_eq!(
            again.public_key_pem().unwrap(),
            key.public_key_pem().unwrap()
        );
        let one_line = pem.replace('\n', "\\n");
        assert_eq!(
            EventSigningKey::from_pem(&one_line).unwrap().key_id(),
            key.key_id()
        );
        let folded = pem.replace('\n', " ");
        assert_eq!(
            EventSigningKey::from_pem(&folded).unwrap().key_id(),
            key.key_id()
        );
        assert!(EventSigningKey::from_pem(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"
        )
        .is_err());
        assert!(!format!("{key:?}").contains(&pem));
        let jwk = key.jwk();
        assert_eq!(jwk["crv"], "P-521");
        assert_eq!(decode(jwk["x"].as_str().unwrap()).len(), 66);
    }
}
