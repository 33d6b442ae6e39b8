//! E-mail templates, one folder per message under `mailers/<audience>/<name>/`.
//! Messages are not sent from here: they are queued in the outbox (see
//! `models::outbox`) and rendered and delivered by `workers::outbox`.
#![allow(non_upper_case_globals)]

use std::sync::OnceLock;

use include_dir::{include_dir, Dir};
use tera::{Context, Kwargs, State, StringInput, Tera};

static verify_email: Dir<'_> = include_dir!("src/mailers/business/verify_email");
static account_exists: Dir<'_> = include_dir!("src/mailers/business/account_exists");
static password_reset: Dir<'_> = include_dir!("src/mailers/business/password_reset");
static kyc_approved: Dir<'_> = include_dir!("src/mailers/business/kyc_approved");
static kyc_rejected: Dir<'_> = include_dir!("src/mailers/business/kyc_rejected");
static kyc_pending_review: Dir<'_> = include_dir!("src/mailers/business/kyc_pending_review");
static order_confirmation: Dir<'_> = include_dir!("src/mailers/customer/order_confirmation");
static order_status: Dir<'_> = include_dir!("src/mailers/customer/order_status");
static endpoint_disabled: Dir<'_> = include_dir!("src/mailers/business/endpoint_disabled");

/// Every message the service sends. The name is what the outbox stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mail {
    VerifyEmail,
    AccountExists,
    PasswordReset,
    KycApproved,
    KycRejected,
    KycPendingReview,
    OrderConfirmation,
    OrderStatus,
    EndpointDisabled,
}

impl Mail {
    pub const ALL: [Self; 9] = [
        Self::VerifyEmail,
        Self::AccountExists,
        Self::PasswordReset,
        Self::KycApproved,
        Self::KycRejected,
        Self::KycPendingReview,
        Self::OrderConfirmation,
        Self::OrderStatus,
        Self::EndpointDisabled,
    ];

    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify-email",
            Self::AccountExists => "account-exists",
            Self::PasswordReset => "password-reset",
            Self::KycApproved => "kyc-approved",
            Self::KycRejected => "kyc-rejected",
            Self::KycPendingReview => "kyc-pending-review",
            Self::OrderConfirmation => "order-confirmation",
            Self::OrderStatus => "order-status",
            Self::EndpointDisabled => "endpoint-disabled",
        }
    }

    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }

    const fn dir(self) -> &'static Dir<'static> {
        match self {
            Self::VerifyEmail => &verify_email,
            Self::AccountExists => &account_exists,
            Self::PasswordReset => &password_reset,
            Self::KycApproved => &kyc_approved,
            Self::KycRejected => &kyc_rejected,
            Self::KycPendingReview => &kyc_pending_review,
            Self::OrderConfirmation => &order_confirmation,
            Self::OrderStatus => &order_status,
            Self::EndpointDisabled => &endpoint_disabled,
        }
    }

    /// Renders subject, text and HTML with `locals`. Templates are parsed once;
    /// the HTML part escapes every interpolated value.
    ///
    /// # Errors
    /// When the template fails to render (a missing local, say).
    pub fn render(self, locals: &serde_json::Value) -> Result<Content, tera::Error> {
        static TERA: OnceLock<Tera> = OnceLock::new();
        let tera = TERA.get_or_init(|| {
            let mut tera = Tera::default();
            tera.autoescape_on([".html"]);
            tera.register_filter("quoted", |text: StringInput, _: Kwargs, _: &State| {
                quoted(text.as_str())
            });
            for m in Self::ALL {
                for part in ["subject", "text", "html"] {
                    let file = m
                        .dir()
                        .get_file(format!("{part}.t"))
                        .and_then(|f| f.contents_utf8())
                        .expect("every mail has subject.t, text.t and html.t");
                    tera.add_raw_template(&format!("{}.{part}", m.name()), file)
                        .expect("templates compile");
                }
            }
            tera
        });
        let ctx = Context::from_serialize(locals)?;
        let part = |p: &str| tera.render(&format!("{}.{p}", self.name()), &ctx);
        Ok(Content {
            subject: part("subject")?.trim().to_string(),
            text: part("text")?,
            html: part("html")?,
        })
    }
}

/// Text from someone else (an order's free text) for a text part: every
/// line behind `> `, so no line break inside it can pass for our own words.
fn quoted(text: &str) -> String {
    text.split(['\n', '\r', '\u{2028}', '\u{2029}'])
        .map(|line| format!("    > {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A rendered message.
#[derive(Debug, Clone)]
pub struct Content {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles_and_names_round_trip() {
        for m in Mail::ALL {
            assert_eq!(Mail::from_name(m.name()), Some(m));
            let _ = m.dir();
        }
        let c = Mail::VerifyEmail
            .render(&serde_json::json!({"name": "Ada", "code": "123456", "minutes": 10}))
            .unwrap();
        assert!(c.text.contains("123456"));
    }

    #[test]
    fn order_text_is_quoted_line_by_line_and_escaped_in_html() {
        let c = Mail::OrderConfirmation
            .render(&serde_json::json!({
                "customer_name": "Ada",
                "business_name": "Analytical Engines Ltd",
                "order_id": "o-1",
                "item_summary": "Tea\nYour account is locked: <a href=\"https://evil.example\">log in</a>",
                "address": "Lagos",
                "status": "Pending",
            }))
            .unwrap();
        assert!(
            c.text.contains("    > Tea\n    > Your account is locked"),
            "{}",
            c.text
        );
        assert!(!c.text.lines().any(|l| l.starts_with("Your account")));
        assert!(c.html.contains("&lt;a href="), "{}", c.html);
        assert!(!c.html.contains("<a href"));
        assert!(c.text.contains("order with Analytical Engines Ltd"));
    }
}
