//! An approved company built through the public API and the operator task,
//! exactly as a business and an admin would: register, read the code from the
//! outbox, verify, log in, submit KYC, `task kyc_approve`, fetch the webhook
//! secret. Also compiled into the benchmark (`tests/bench`).

use std::{
    path::Path,
    time::{Duration, Instant, SystemTime},
};

use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use super::server::ServerProcess;

pub const PASSWORD: &str = "correct horse battery";

/// How long mail may take to reach the outbox folder on a loaded machine.
const MAIL_TIMEOUT: Duration = Duration::from_secs(60);

/// A verified business whose KYC an admin approved.
pub struct Company {
    pub email: String,
    /// Bearer token of the business account.
    pub token: String,
    /// The webhook secret (`whsk_…`), used as `X-API-Key` and HMAC key.
    pub secret_key: String,
}

impl std::fmt::Debug for Company {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Company")
            .field("email", &self.email)
            .field("token", &"[REDACTED]")
            .field("secret_key", &"[REDACTED]")
            .finish()
    }
}

/// `hex(HMAC-SHA256(secret, body))`, the `X-Webhook-Signature` of an order.
pub fn sign(secret: &str, body: &[u8]) -> String {
    // HMAC takes keys of any length: this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// `POST url` with `body` signed by `key`, as a business sends an order.
pub fn signed_post(
    http: &reqwest::Client,
    url: &str,
    key: &str,
    body: String,
) -> reqwest::RequestBuilder {
    http.post(url)
        .header("X-API-Key", key)
        .header("X-Webhook-Signature", sign(key, body.as_bytes()))
        .header("Content-Type", "application/json")
        .body(body)
}

/// The six-digit code of a mail ("… code is 123456 …"), if it carries one.
pub fn code_in(mail: &str) -> Option<String> {
    let marker = "code is ";
    let at = mail.find(marker)? + marker.len();
    let code: String = mail[at..].chars().take(6).collect();
    (code.len() == 6 && code.chars().all(|c| c.is_ascii_digit())).then_some(code)
}

/// Whether a raw mail is addressed to `to`.
pub fn is_to(mail: &str, to: &str) -> bool {
    let needle = format!("To: {to}");
    mail.lines().any(|l| l.trim() == needle)
}

/// The code in the newest `.eml` file of `dir` addressed to `to`, polling
/// until one arrives.
///
/// # Errors
/// When none arrives within 60 s.
pub async fn code_from_outbox(dir: &Path, to: &str) -> Result<String, String> {
    let deadline = Instant::now() + MAIL_TIMEOUT;
    loop {
        if let Some(code) = newest_code(dir, to) {
            return Ok(code);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "no mail with a code to {to} in {} within {}s",
                dir.display(),
                MAIL_TIMEOUT.as_secs()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn newest_code(dir: &Path, to: &str) -> Option<String> {
    let mut mails: Vec<(SystemTime, String)> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
        .filter_map(|e| {
            let modified = e.metadata().ok()?.modified().ok()?;
            let text = std::fs::read_to_string(e.path()).ok()?;
            Some((modified, text))
        })
        .filter(|(_, text)| is_to(text, to))
        .collect();
    mails.sort_by_key(|(modified, _)| *modified);
    mails.iter().rev().find_map(|(_, text)| code_in(text))
}

/// A JSON request; answers the status and the body (JSON, or `null`).
///
/// # Errors
/// When the request fails at the transport level.
pub async fn call(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<(u16, Value), String> {
    let mut req = http.request(method.clone(), url);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(body);
    }
    let res = req
        .send()
        .await
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let status = res.status().as_u16();
    let body = res.json::<Value>().await.unwrap_or(Value::Null);
    Ok((status, body))
}

/// `call`, requiring `expected`; the error names the step, status and body
/// (bodies of these endpoints never carry a secret on failure).
async fn expect(
    step: &str,
    expected: u16,
    answer: Result<(u16, Value), String>,
) -> Result<Value, String> {
    let (status, body) = answer?;
    if status == expected {
        Ok(body)
    } else {
        Err(format!("{step}: expected {expected}, got {status}: {body}"))
    }
}

/// `POST /auth/register/` with the standard business; expects 201.
pub async fn register(
    http: &reqwest::Client,
    server: &ServerProcess,
    email: &str,
) -> Result<(), String> {
    expect(
        "register",
        201,
        call(
            http,
            reqwest::Method::POST,
            &format!("{}/api/v1/auth/register/", server.base_url()),
            None,
            Some(&json!({
                "email": email,
                "password": PASSWORD,
                "full_name": "Ada Lovelace",
                "company_name": "Analytical Engines Ltd",
            })),
        )
        .await,
    )
    .await?;
    Ok(())
}

/// Registers `email`, verifies it with the code from the outbox folder and
/// logs in; returns the bearer token.
///
/// # Errors
/// When a step answers an unexpected status.
pub async fn given_a_verified_business(
    http: &reqwest::Client,
    server: &ServerProcess,
    email: &str,
) -> Result<String, String> {
    let api = format!("{}/api/v1", server.base_url());
    register(http, server, email).await?;
    let code = code_from_outbox(&server.outbox_dir(), email).await?;
    expect(
        "verify-email",
        200,
        call(
            http,
            reqwest::Method::POST,
            &format!("{api}/auth/verify-email/"),
            None,
            Some(&json!({"email": email, "otp": code})),
        )
        .await,
    )
    .await?;
    let login = expect(
        "login",
        200,
        call(
            http,
            reqwest::Method::POST,
            &format!("{api}/auth/login/"),
            None,
            Some(&json!({"email": email, "password": PASSWORD})),
        )
        .await,
    )
    .await?;
    login["token"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "login: no token in the answer".to_string())
}

/// A verified business whose KYC was submitted over the API and approved with
/// the operator task `kyc_approve`, holding its webhook secret.
///
/// # Errors
/// When a step answers an unexpected status or the task fails.
pub async fn given_an_approved_company(
    http: &reqwest::Client,
    server: &ServerProcess,
    email: &str,
) -> Result<Company, String> {
    let api = format!("{}/api/v1", server.base_url());
    let token = given_a_verified_business(http, server, email).await?;
    let kyc = expect(
        "kyc",
        201,
        call(
            http,
            reqwest::Method::POST,
            &format!("{api}/kyc/"),
            Some(&token),
            Some(&json!({
                "business_name": "Analytical Engines Ltd",
                "registration_number": "RC-1843",
                "country": "NG",
                "business_address": "12 Marina Road, Lagos",
            })),
        )
        .await,
    )
    .await?;
    let kyc_id = match &kyc["id"] {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        other => return Err(format!("kyc: no id in the answer: {other}")),
    };
    server
        .run_task("kyc_approve", &[&format!("ids:{kyc_id}")])
        .await?;
    let secret = expect(
        "webhook secret",
        200,
        call(
            http,
            reqwest::Method::GET,
            &format!("{api}/webhook/secret/"),
            Some(&token),
            None,
        )
        .await,
    )
    .await?;
    let secret_key = secret["secret_key"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| "webhook secret: no secret_key in the answer".to_string())?;
    Ok(Company {
        email: email.to_string(),
        token,
        secret_key,
    })
}

/// How many orders the company has stored, exactly. An order list counts up
/// to 1 000, or to the end of the page asked for if further
/// (`count_exact: false` past it), so this asks for pages further on until
/// the count is exact: a dozen requests at a million orders.
///
/// # Errors
/// When the list does not answer 200 with a numeric `count`.
pub async fn stored_orders(
    http: &reqwest::Client,
    server: &ServerProcess,
    company: &Company,
) -> Result<u64, String> {
    let mut page = 1u64;
    loop {
        let body = expect(
            "orders list",
            200,
            call(
                http,
                reqwest::Method::GET,
                &format!(
                    "{}/api/v1/orders/?page_size=100&page={page}",
                    server.base_url()
                ),
                Some(&company.token),
                None,
            )
            .await,
        )
        .await?;
        let count = body["count"]
            .as_u64()
            .ok_or_else(|| format!("orders list: no numeric count in {body}"))?;
        match body["count_exact"].as_bool() {
            Some(true) => return Ok(count),
            Some(false) => page = 2 * (count / 100 + 1),
            None => return Err(format!("orders list: no count_exact in {body}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_rfc_4231_vector() {
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_code_is_six_digits_after_the_marker() {
        assert_eq!(
            code_in("Your code is 042917.\r\n").as_deref(),
            Some("042917")
        );
        assert_eq!(code_in("Your code is 04291"), None);
        assert_eq!(code_in("no code here"), None);
    }

    #[test]
    fn a_company_never_prints_its_secrets() {
        let company = Company {
            email: "ada@example.com".into(),
            token: "eyJ.token".into(),
            secret_key: "whsk_secret".into(),
        };
        let printed = format!("{company:?}");
        assert!(!printed.contains("eyJ.token") && !printed.contains("whsk_secret"));
    }
}
