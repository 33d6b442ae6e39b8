//! The one place that touches ciphers and MACs: AES-256-GCM at rest, SHA-256
//! lookup hashes, HMAC signatures (verified in constant time) and CSPRNG output.

use aes_gcm::{
    aead::{Aead, KeyInit},
    Aes256Gcm, Nonce,
};
use base64::{engine::general_purpose, Engine as _};
use hmac::{Hmac, Mac};
use rand::{rngs::OsRng, TryRngCore};
use sha2::{Digest, Sha256, Sha512};

use super::DomainError;

/// Development-only key; production refuses to start with it.
pub const DEV_SECRETS_KEY_HEX: &str =
    "6f7264657266656c6c6f772d6465762d6b65792d6e6f742d7365637265742121";

/// The server's 32-byte encryption key.
#[derive(Clone)]
pub struct SecretsKey([u8; 32]);

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretsKey([REDACTED])")
    }
}

impl SecretsKey {
    /// Accepts 64 hex characters or base64 (standard or URL-safe) of 32 bytes.
    ///
    /// # Errors
    /// When the value does not decode to exactly 32 bytes.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let raw = raw.trim();
        let bytes = hex::decode(raw)
            .ok()
            .filter(|b| b.len() == 32)
            .or_else(|| general_purpose::STANDARD.decode(raw).ok())
            .or_else(|| general_purpose::URL_SAFE_NO_PAD.decode(raw).ok())
            .filter(|b| b.len() == 32)
            .ok_or_else(|| DomainError::new("must be 32 bytes, hex or base64 encoded"))?;
        let mut key = [0u8; 32];
        key.copy_from_slice(&bytes);
        Ok(Self(key))
    }

    /// # Panics
    /// Never: the constant is valid hex of 32 bytes.
    #[must_use]
    pub fn dev_default() -> Self {
        Self::parse(DEV_SECRETS_KEY_HEX).expect("valid dev key")
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new_from_slice(&self.0).expect("32-byte key")
    }

    /// Encrypts with a fresh random 96-bit IV: `<iv hex>.<ciphertext+tag hex>`.
    #[must_use]
    pub fn encrypt(&self, plaintext: &[u8]) -> String {
        self.encrypt_with_iv(plaintext, &random_bytes::<12>())
    }

    /// Deterministic form of [`Self::encrypt`], for known-answer tests.
    ///
    /// # Panics
    /// Never: AES-GCM encryption of an in-memory buffer cannot fail.
    #[must_use]
    pub fn encrypt_with_iv(&self, plaintext: &[u8], iv: &[u8; 12]) -> String {
        let ct = self
            .cipher()
            .encrypt(&Nonce::from(*iv), plaintext)
            .expect("aes-gcm encrypt");
        format!("{}.{}", hex::encode(iv), hex::encode(ct))
    }

    /// # Errors
    /// When the value is malformed or fails authentication (wrong key, tampering).
    pub fn decrypt(&self, stored: &str) -> Result<Vec<u8>, DomainError> {
        let bad = || DomainError::new("cannot decrypt stored value");
        let (iv, ct) = stored.split_once('.').ok_or_else(bad)?;
        let iv: [u8; 12] = hex::decode(iv)
            .ok()
            .and_then(|v| v.try_into().ok())
            .ok_or_else(bad)?;
        let ct = hex::decode(ct).map_err(|_| bad())?;
        self.cipher()
            .decrypt(&Nonce::from(iv), ct.as_ref())
            .map_err(|_| bad())
    }

    /// A keyed hash (HMAC-SHA256, hex) for short codes such as OTPs, so that a
    /// leaked table cannot be brute-forced without the key.
    #[must_use]
    pub fn keyed_hash(&self, context: &str, value: &str) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("any key length");
        mac.update(context.as_bytes());
        mac.update(b"\0");
        mac.update(value.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

impl SecretsKey {
    /// The subkey for `purpose`: HKDF-SHA256 of this key, labelled with the
    /// purpose, so that no one key encrypts everything under random nonces
    /// and a subkey reveals nothing of the others.
    #[must_use]
    pub fn derive(&self, purpose: KeyPurpose) -> Self {
        let mut out = [0u8; 32];
        hkdf::Hkdf::<Sha256>::new(None, &self.0)
            .expand(purpose.label().as_bytes(), &mut out)
            .expect("32 bytes is a valid HKDF-SHA256 length");
        Self(out)
    }
}

/// What a derived key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    /// The companies' `whsk_` order keys.
    WebhookSecrets,
    /// Template data of queued mail (may hold a one-time code).
    MailPayloads,
    /// Signing secrets of the businesses' event endpoints.
    EndpointSecrets,
}

impl KeyPurpose {
    pub const ALL: [Self; 3] = [
        Self::WebhookSecrets,
        Self::MailPayloads,
        Self::EndpointSecrets,
    ];

    const fn label(self) -> &'static str {
        match self {
            Self::WebhookSecrets => "order-fellow/v1/webhook-secrets",
            Self::MailPayloads => "order-fellow/v1/mail-payloads",
            Self::EndpointSecrets => "order-fellow/v1/endpoint-secrets",
        }
    }
}

/// A stored value decrypted, and whether it was sealed under the current key.
pub struct Opened {
    pub plaintext: Vec<u8>,
    /// False for a value written under the previous `SECRETS_KEY` or before
    /// per-purpose keys: re-encrypt it (`rotate_secrets_key`).
    pub current: bool,
}

/// The keys of one purpose: the current subkey seals; it, the bare current
/// key (values written before per-purpose keys), and the same two of the
/// previous `SECRETS_KEY` open. The stored format stays
/// `<iv hex>.<ciphertext+tag hex>`.
#[derive(Clone)]
pub struct Keyring {
    seal: SecretsKey,
    /// Tried in order after `seal`.
    older: Vec<SecretsKey>,
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keyring([REDACTED])")
    }
}

impl Keyring {
    #[must_use]
    pub fn new(current: &SecretsKey, previous: Option<&SecretsKey>, purpose: KeyPurpose) -> Self {
        let mut older = vec![current.clone()];
        if let Some(prev) = previous {
            older.push(prev.derive(purpose));
            older.push(prev.clone());
        }
        Self {
            seal: current.derive(purpose),
            older,
        }
    }

    /// Encrypts under the current subkey with a fresh random IV.
    #[must_use]
    pub fn encrypt(&self, plaintext: &[u8]) -> String {
        self.seal.encrypt(plaintext)
    }

    /// # Errors
    /// When no known key opens the value (tampered, or a key was lost).
    pub fn open(&self, stored: &str) -> Result<Opened, DomainError> {
        if let Ok(plaintext) = self.seal.decrypt(stored) {
            return Ok(Opened {
                plaintext,
                current: true,
            });
        }
        self.older
            .iter()
            .find_map(|k| k.decrypt(stored).ok())
            .map(|plaintext| Opened {
                plaintext,
                current: false,
            })
            .ok_or_else(|| DomainError::new("cannot decrypt stored value"))
    }

    /// [`Self::open`], for callers that only read.
    ///
    /// # Errors
    /// As [`Self::open`].
    pub fn decrypt(&self, stored: &str) -> Result<Vec<u8>, DomainError> {
        self.open(stored).map(|o| o.plaintext)
    }
}

/// Lower-case hex SHA-256, used to look secrets up by an index.
#[must_use]
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(sha256(data))
}

/// SHA-256 of `data`.
#[must_use]
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// `n` bytes from the operating system's CSPRNG.
///
/// # Panics
/// When the OS has no entropy source, which no supported platform lacks.
#[must_use]
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    OsRng.try_fill_bytes(&mut buf).expect("OS CSPRNG available");
    buf
}

/// A uniformly random number in `0..bound` from the CSPRNG (rejection sampling).
#[must_use]
pub fn random_below(bound: u32) -> u32 {
    let zone = u32::MAX - (u32::MAX % bound);
    loop {
        let v = u32::from_le_bytes(random_bytes::<4>());
        if v < zone {
            return v % bound;
        }
    }
}

/// URL-safe base64 without padding.
#[must_use]
pub fn b64url(bytes: &[u8]) -> String {
    general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The MAC algorithms webhook senders use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacAlg {
    Sha1,
    Sha256,
    Sha512,
}

/// Verifies `hex(HMAC(key, parts...))` against `signature_hex` (any case) in
/// constant time. Returns false for non-hex input.
#[must_use]
pub fn verify_hmac_hex(alg: MacAlg, key: &[u8], parts: &[&[u8]], signature_hex: &str) -> bool {
    let Ok(sig) = hex::decode(signature_hex.trim().to_ascii_lowercase()) else {
        return false;
    };
    macro_rules! check {
        ($h:ty) => {{
            let mut mac = <Hmac<$h> as Mac>::new_from_slice(key).expect("any key length");
            for p in parts {
                mac.update(p);
            }
            mac.verify_slice(&sig).is_ok()
        }};
    }
    match alg {
        MacAlg::Sha1 => check!(sha1::Sha1),
        MacAlg::Sha256 => check!(Sha256),
        MacAlg::Sha512 => check!(Sha512),
    }
}

/// `raw` without a leading `sha256=` in any case (`SHA256=` too), the label some
/// senders put before a hex HMAC-SHA256 signature; any other value comes back
/// unchanged. It does not trim: callers trim the header value first.
#[must_use]
pub fn strip_sha256_prefix(raw: &str) -> &str {
    const PREFIX: &str = "sha256=";
    match raw.split_at_checked(PREFIX.len()) {
        Some((head, rest)) if head.eq_ignore_ascii_case(PREFIX) => rest,
        _ => raw,
    }
}

/// HMAC-SHA256 of the concatenated `parts` under `key`: the raw tag that
/// outbound event signatures encode (base64 or hex).
#[must_use]
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// `hex(HMAC-SHA256(key, data))`, as senders compute it (tests, clients, bench).
#[must_use]
pub fn hmac_sha256_hex(key: &[u8], data: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    mac.update(data);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    // The sign-and-send document's example, used as a known-answer vector.
    const SERVER_KEY: &str = "1d28023fc6320b42781a4d811465e3a23b2a4f21340e27c06e683c1e987ed5f9";
    const SECRET: &str = "whsec_yxrTwIuHnHs9Wwb9LdYD6";
    const IV: &str = "e21b8662eb68e7f031663e85";
    const CIPHERTEXT: &str =
        "b029e0c3c1557db59b035b5a1c377ca68148950acc49bc17c7e15db25dd63421a8ad55bb7e9960a8fb36a3";
    const HASH: &str = "2dae15292d45e7ac7aadea0ddc9d783f8fe6a0f50652851668e7a814bfe8dbd0";

    #[test]
    fn encryption_matches_the_documented_vector() {
        let key = SecretsKey::parse(SERVER_KEY).unwrap();
        let iv: [u8; 12] = hex::decode(IV).unwrap().try_into().unwrap();
        let stored = key.encrypt_with_iv(SECRET.as_bytes(), &iv);
        assert_eq!(stored, format!("{IV}.{CIPHERTEXT}"));
        assert_eq!(key.decrypt(&stored).unwrap(), SECRET.as_bytes());
    }

    #[test]
    fn lookup_hash_matches_the_documented_vector() {
        assert_eq!(sha256_hex(SECRET.as_bytes()), HASH);
    }

    #[test]
    fn encryption_round_trips_with_random_ivs() {
        let key = SecretsKey::dev_default();
        let a = key.encrypt(b"whsk_abc");
        let b = key.encrypt(b"whsk_abc");
        assert_ne!(a, b, "fresh IV per value");
        assert_eq!(key.decrypt(&a).unwrap(), b"whsk_abc");
    }

    #[test]
    fn tampered_ciphertext_is_refused() {
        let key = SecretsKey::dev_default();
        let mut stored = key.encrypt(b"whsk_abc");
        let last = stored.pop().unwrap();
        stored.push(if last == '0' { '1' } else { '0' });
        assert!(key.decrypt(&stored).is_err());
        assert!(key.decrypt("not-a-value").is_err());
    }

    #[test]
    fn key_parses_hex_and_base64() {
        assert!(SecretsKey::parse(SERVER_KEY).is_ok());
        let b64 = general_purpose::STANDARD.encode(hex::decode(SERVER_KEY).unwrap());
        assert!(SecretsKey::parse(&b64).is_ok());
        assert!(SecretsKey::parse("short").is_err());
    }

    #[test]
    fn hmac_verification_accepts_any_hex_case_and_rejects_others() {
        let sig = hmac_sha256_hex(b"key", b"body");
        assert!(verify_hmac_hex(MacAlg::Sha256, b"key", &[b"body"], &sig));
        assert!(verify_hmac_hex(
            MacAlg::Sha256,
            b"key",
            &[b"body"],
            &sig.to_uppercase()
        ));
        assert!(verify_hmac_hex(
            MacAlg::Sha256,
            b"key",
            &[b"bo", b"dy"],
            &sig
        ));
        assert!(!verify_hmac_hex(MacAlg::Sha256, b"key", &[b"body2"], &sig));
        assert!(!verify_hmac_hex(MacAlg::Sha256, b"key", &[b"body"], "zz"));
        assert!(!verify_hmac_hex(MacAlg::Sha1, b"key", &[b"body"], &sig));
    }

    #[test]
    fn the_sha256_prefix_is_stripped_in_any_case_and_only_at_the_start() {
        assert_eq!(strip_sha256_prefix("sha256=ab12"), "ab12");
        assert_eq!(strip_sha256_prefix("SHA256=AB12"), "AB12");
        assert_eq!(strip_sha256_prefix("Sha256="), "");
        assert_eq!(strip_sha256_prefix("ab12"), "ab12");
        assert_eq!(strip_sha256_prefix("sha256"), "sha256");
        assert_eq!(strip_sha256_prefix("sha512=ab12"), "sha512=ab12");
        assert_eq!(strip_sha256_prefix(" sha256=ab12"), " sha256=ab12");
        assert_eq!(strip_sha256_prefix("sha256=sha256=ab"), "sha256=ab");
        // A character that straddles the prefix's length is no panic and no prefix.
        assert_eq!(strip_sha256_prefix("sha256é=ab"), "sha256é=ab");
        assert_eq!(strip_sha256_prefix(""), "");
    }

    #[test]
    fn purposes_get_distinct_keys_and_old_values_stay_readable() {
        let master = SecretsKey::parse(SERVER_KEY).unwrap();
        let a = master.derive(KeyPurpose::WebhookSecrets);
        let b = master.derive(KeyPurpose::MailPayloads);
        assert!(b.decrypt(&a.encrypt(b"x")).is_err(), "subkeys differ");

        let ring = Keyring::new(&master, None, KeyPurpose::WebhookSecrets);
        let sealed = ring.encrypt(b"whsk_new");
        assert!(ring.open(&sealed).unwrap().current);
        assert!(master.decrypt(&sealed).is_err(), "sealed under the subkey");
        let legacy = master.encrypt(b"whsk_old");
        let opened = ring.open(&legacy).unwrap();
        assert_eq!(
            (opened.plaintext.as_slice(), opened.current),
            (&b"whsk_old"[..], false)
        );

        let next = SecretsKey::dev_default();
        let rotated = Keyring::new(&next, Some(&master), KeyPurpose::WebhookSecrets);
        assert!(
            !rotated.open(&sealed).unwrap().current,
            "previous key still opens"
        );
        assert!(!rotated.open(&legacy).unwrap().current);
        let fresh = Keyring::new(&next, None, KeyPurpose::WebhookSecrets);
        assert!(
            fresh.open(&sealed).is_err(),
            "without the previous key it is gone"
        );
    }

    #[test]
    fn random_below_stays_in_range() {
        for _ in 0..1000 {
            assert!(random_below(1_000_000) < 1_000_000);
        }
    }
}
