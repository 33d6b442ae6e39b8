//! Business accounts and admins: registration with an e-mailed OTP, login
//! (throttled per account and client address in `limits`), password reset
//! that revokes older tokens and is capped per account.

use sea_orm::{
    entity::prelude::*,
    sea_query::{Expr, ExprTrait},
    ActiveValue::Set,
    ConnectionTrait, PaginatorTrait, QueryOrder, QuerySelect,
};
use serde_json::json;

pub use super::_entities::users::{self, ActiveModel, Column, Entity, Model};
use super::{
    otp::{self, Check, Purpose},
    outbox::{self, NewMail},
    search,
    tx::Tx,
};
use crate::{
    domain::{email::Email, now, otp::OtpCode, password, password::Password, secret::Secret},
    errors::{is_unique_violation, ApiError, ApiResult},
    limits::{AccountKey, Limiters},
    mailers::Mail,
    settings::{delta, AppSettings},
};

impl ActiveModelBehavior for ActiveModel {}

pub const ROLE_BUSINESS: &str = "business";
pub const ROLE_ADMIN: &str = "admin";

pub const INVALID_CODE: &str = "Invalid or expired code";
pub const TOO_MANY_ATTEMPTS: &str =
    "Too many wrong attempts: this code is no longer valid. Request a new code.";
pub const INVALID_CREDENTIALS: &str = "Invalid email or password";

/// Reset codes an account may be sent per `password_reset_window`.
pub const RESET_MAX_CODES: i32 = 5;
/// Wrong reset codes an account may be tried with per `password_reset_window`.
pub const RESET_MAX_WRONG: i32 = 10;

/// A registration, already parsed.
#[derive(Debug)]
pub struct Registration {
    pub email: Email,
    pub password: Password,
    pub full_name: String,
    pub company_name: String,
}

impl Model {
    #[must_use]
    pub fn is_admin(&self) -> bool {
        self.role == ROLE_ADMIN
    }

    #[must_use]
    pub const fn is_verified(&self) -> bool {
        self.email_verified_at.is_some()
    }

    /// # Errors
    /// On database failure.
    pub async fn find_by_email<C: ConnectionTrait>(
        db: &C,
        email: &Email,
    ) -> Result<Option<Self>, DbErr> {
        Entity::find()
            .filter(Column::Email.eq(email.as_str()))
            .one(db)
            .await
    }

    /// # Errors
    /// On database failure.
    /// Business accounts whose e-mail or company name contains `q` (any
    /// case), newest first: `(count, page)`.
    ///
    /// # Errors
    /// On database failure.
    pub async fn search_businesses<C: ConnectionTrait>(
        db: &C,
        q: Option<&str>,
        page: u64,
        page_size: u64,
    ) -> Result<(u64, Vec<Self>), DbErr> {
        let mut select = Entity::find().filter(Column::Role.eq(ROLE_BUSINESS));
        if let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) {
            select = select.filter(search::contains_any(
                &[Column::Email, Column::CompanyName],
                q,
            ));
        }
        let count = select.clone().count(db).await?;
        let rows = select
            .order_by_desc(Column::CreatedAt)
            .order_by_desc(Column::Id)
            .offset((page - 1) * page_size)
            .limit(page_size)
            .all(db)
            .await?;
        Ok((count, rows))
    }

    pub async fn find_by_pid<C: ConnectionTrait>(db: &C, pid: Uuid) -> Result<Option<Self>, DbErr> {
        Entity::find().filter(Column::Pid.eq(pid)).one(db).await
    }

    /// Registers a business and mails it a verification code. An address that
    /// already has an account gets a notice instead, and the caller cannot
    /// tell the difference.
    ///
    /// # Errors
    /// On database failure.
    pub async fn register(
        db: &DatabaseConnection,
        app: &AppSettings,
        limits: &Limiters,
        reg: Registration,
    ) -> ApiResult<()> {
        let Registration {
            email,
            password,
            full_name,
            company_name,
        } = reg;
        // Hashed whether or not the address is taken: both answers cost the same.
        let phc = limits.hash(move || password.hash()).await?;
        let tx = Tx::begin(db).await?;
        if let Some(existing) = Self::find_by_email(&tx, &email).await? {
            queue_account_exists(&tx, app, &existing).await?;
        } else {
            let t = now();
            let inserted = ActiveModel {
                pid: Set(Uuid::new_v4()),
                email: Set(email.as_str().to_string()),
                password: Set(phc),
                full_name: Set(full_name),
                company_name: Set(company_name),
                role: Set(ROLE_BUSINESS.to_string()),
                token_version: Set(0),
                failed_logins: Set(0),
                created_at: Set(t),
                updated_at: Set(t),
                ..Default::default()
            }
            .insert(&tx)
            .await;
            match inserted {
                Ok(user) => {
                    send_code(&tx, app, &user, Purpose::VerifyEmail, false).await?;
                }
                // A concurrent registration of the same address won the race.
                Err(e) if is_unique_violation(&e) => {
                    tx.rollback().await?;
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Marks the address verified when `code` is right.
    ///
    /// # Errors
    /// 400 with the invalid-code or too-many-attempts text.
    pub async fn verify_email(
        db: &DatabaseConnection,
        app: &AppSettings,
        email: &Email,
        code: &OtpCode,
    ) -> ApiResult<()> {
        let user = Self::find_by_email(db, email)
            .await?
            .ok_or_else(|| ApiError::BadRequest(INVALID_CODE.into()))?;
        check_code(db, app, &user, Purpose::VerifyEmail, code).await?;
        let mut am: ActiveModel = user.into();
        am.email_verified_at = Set(Some(now()));
        am.updated_at = Set(now());
        am.update(db).await?;
        Ok(())
    }

    /// Mails a new verification code to an unverified account, at most once per
    /// resend interval. Silent in every other case.
    ///
    /// # Errors
    /// On database failure.
    pub async fn resend_verification(
        db: &DatabaseConnection,
        app: &AppSettings,
        email: &Email,
    ) -> ApiResult<()> {
        if let Some(user) = Self::find_by_email(db, email).await? {
            if !user.is_verified() {
                let tx = Tx::begin(db).await?;
                if send_code(&tx, app, &user, Purpose::VerifyEmail, true).await? {
                    tx.commit().await?;
                }
            }
        }
        Ok(())
    }

    /// Checks credentials. Unknown e-mail and wrong password answer alike and
    /// cost the same argon2 verification. The attempt is reserved in the
    /// login throttles first (per account and client address, and per client
    /// address), which key unknown addresses exactly like accounts.
    ///
    /// # Errors
    /// 401 bad credentials, 403 unverified e-mail, 429 throttled, 503 when
    /// every hashing slot stays busy.
    pub async fn login(
        db: &DatabaseConnection,
        limits: &Limiters,
        email: &Email,
        candidate: Secret<String>,
        client: std::net::IpAddr,
    ) -> ApiResult<Self> {
        let attempt = limits.login_attempt(AccountKey::of(email), client)?;
        let user = Self::find_by_email(db, email).await?;
        let phc = user.as_ref().map(|u| u.password.clone());
        let matches = limits
            .hash(move || {
                password::verify(
                    candidate.expose(),
                    phc.as_deref().unwrap_or_else(|| password::dummy_hash()),
                )
            })
            .await?;
        let Some(user) = user.filter(|_| matches) else {
            attempt.failed();
            return Err(ApiError::Unauthorized(INVALID_CREDENTIALS.into()));
        };
        attempt.succeeded();
        if !user.is_verified() {
            return Err(ApiError::Forbidden {
                error: "Email not verified".into(),
                message: None,
            });
        }
        Ok(user)
    }

    /// Mails a password-reset code when the account exists: at most one per
    /// resend interval, and at most [`RESET_MAX_CODES`] per reset window
    /// (none once [`RESET_MAX_WRONG`] wrong codes were tried in it).
    ///
    /// # Errors
    /// On database failure.
    pub async fn forgot_password(
        db: &DatabaseConnection,
        app: &AppSettings,
        email: &Email,
    ) -> ApiResult<()> {
        if let Some(user) = Self::find_by_email(db, email).await? {
            let tx = Tx::begin(db).await?;
            if reserve_reset(&tx, app, user.id, ResetCap::Codes).await?
                && send_code(&tx, app, &user, Purpose::ResetPassword, true).await?
            {
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Sets a new password when `code` is right, and revokes every token issued
    /// before (token version bump). The e-mail counts as verified: the code
    /// proved control of it. Each try counts against [`RESET_MAX_WRONG`]
    /// before the code is checked (parallel guesses cannot overrun it); past
    /// it, even the right code is refused until the window passes. Every
    /// refusal reads the same, for known and unknown addresses alike.
    ///
    /// # Errors
    /// 400 invalid code; 503 when every hashing slot stays busy.
    pub async fn reset_password(
        db: &DatabaseConnection,
        app: &AppSettings,
        limits: &Limiters,
        email: &Email,
        code: &OtpCode,
        new_password: Password,
    ) -> ApiResult<()> {
        let invalid = || ApiError::BadRequest(INVALID_CODE.into());
        let user = Self::find_by_email(db, email).await?.ok_or_else(invalid)?;
        if !reserve_reset(db, app, user.id, ResetCap::WrongCodes).await? {
            return Err(invalid());
        }
        match otp::consume(db, app, user.id, Purpose::ResetPassword, code).await? {
            Check::Accepted => {}
            Check::Invalid | Check::TooManyAttempts => return Err(invalid()),
        }
        let phc = limits.hash(move || new_password.hash()).await?;
        let t = now();
        Entity::update_many()
            .col_expr(Column::Password, Expr::value(phc))
            .col_expr(Column::TokenVersion, Expr::col(Column::TokenVersion).add(1))
            .col_expr(
                Column::ResetWindowStartedAt,
                Expr::value(Option::<DateTimeWithTimeZone>::None),
            )
            .col_expr(Column::ResetCodesSent, Expr::value(0))
            .col_expr(Column::ResetCodesWrong, Expr::value(0))
            .col_expr(
                Column::EmailVerifiedAt,
                Expr::value(user.email_verified_at.unwrap_or(t)),
            )
            .col_expr(Column::UpdatedAt, Expr::value(t))
            .filter(Column::Id.eq(user.id))
            .exec(db)
            .await?;
        Ok(())
    }

    /// Revokes every token issued to the account so far (`POST /auth/logout/`).
    ///
    /// # Errors
    /// On database failure.
    pub async fn revoke_tokens(db: &DatabaseConnection, user_id: i64) -> ApiResult<()> {
        Entity::update_many()
            .col_expr(Column::TokenVersion, Expr::col(Column::TokenVersion).add(1))
            .col_expr(Column::UpdatedAt, Expr::value(now()))
            .filter(Column::Id.eq(user_id))
            .exec(db)
            .await?;
        Ok(())
    }

    /// Creates a verified admin, or promotes (and re-passwords) an existing
    /// account, revoking the tokens issued to it before, as a password reset
    /// does. Running it again for an admin with the same password changes
    /// nothing.
    ///
    /// # Errors
    /// On database failure.
    pub async fn create_or_promote_admin(
        db: &DatabaseConnection,
        email: &Email,
        password: &Password,
    ) -> ApiResult<Self> {
        let t = now();
        if let Some(user) = Self::find_by_email(db, email).await? {
            if user.is_admin() && user.is_verified() && password.matches(&user.password) {
                return Ok(user);
            }
            let version = user.token_version + 1;
            let mut am: ActiveModel = user.into();
            am.role = Set(ROLE_ADMIN.to_string());
            am.password = Set(password.hash());
            am.email_verified_at = Set(Some(t));
            am.token_version = Set(version);
            am.updated_at = Set(t);
            return Ok(am.update(db).await?);
        }
        Ok(ActiveModel {
            pid: Set(Uuid::new_v4()),
            email: Set(email.as_str().to_string()),
            password: Set(password.hash()),
            full_name: Set("Administrator".into()),
            company_name: Set("My Order Fellow".into()),
            role: Set(ROLE_ADMIN.to_string()),
            email_verified_at: Set(Some(t)),
            token_version: Set(0),
            failed_logins: Set(0),
            created_at: Set(t),
            updated_at: Set(t),
            ..Default::default()
        }
        .insert(db)
        .await?)
    }
}

async fn check_code(
    db: &DatabaseConnection,
    app: &AppSettings,
    user: &Model,
    purpose: Purpose,
    code: &OtpCode,
) -> ApiResult<()> {
    match otp::consume(db, app, user.id, purpose, code).await? {
        Check::Accepted => Ok(()),
        Check::Invalid => Err(ApiError::BadRequest(INVALID_CODE.into())),
        Check::TooManyAttempts => Err(ApiError::BadRequest(TOO_MANY_ATTEMPTS.into())),
    }
}

/// Issues a code and queues its e-mail in the same transaction; false when
/// `throttle` held it back (the last code is younger than the resend interval).
async fn send_code(
    tx: &Tx,
    app: &AppSettings,
    user: &Model,
    purpose: Purpose,
    throttle: bool,
) -> Result<bool, DbErr> {
    let Some(code) = otp::issue(tx, app, user.id, purpose, throttle).await? else {
        return Ok(false);
    };
    let mail = match purpose {
        Purpose::VerifyEmail => Mail::VerifyEmail,
        Purpose::ResetPassword => Mail::PasswordReset,
    };
    let locals = json!({
        "name": user.full_name,
        "code": code.expose(),
        "minutes": app.settings.otp_ttl.as_secs() / 60,
    });
    outbox::enqueue(tx, &app.keys.mail, NewMail::new(mail, &user.email, locals)).await?;
    Ok(true)
}

/// At most one "you already have an account" notice per resend interval.
async fn queue_account_exists(tx: &Tx, app: &AppSettings, user: &Model) -> Result<(), DbErr> {
    let interval = std::cmp::max(app.settings.otp_resend_interval.as_secs(), 1);
    let slot = now().timestamp() / i64::try_from(interval).unwrap_or(60);
    let mail = NewMail::new(
        Mail::AccountExists,
        &user.email,
        json!({ "name": user.full_name }),
    )
    .dedupe(format!("account-exists:{}:{slot}", user.id));
    outbox::enqueue(tx, &app.keys.mail, mail).await
}

/// What a reset reservation counts.
#[derive(Debug, Clone, Copy)]
enum ResetCap {
    /// A code sent: allowed under both caps.
    Codes,
    /// A code tried: allowed under the wrong-code cap.
    WrongCodes,
}

/// Counts one against the account's reset caps in one statement, unless a
/// cap is used up for the current window (a new window starts when the last
/// is over). Returns whether it may proceed.
async fn reserve_reset<C: ConnectionTrait>(
    db: &C,
    app: &AppSettings,
    user_id: i64,
    what: ResetCap,
) -> Result<bool, DbErr> {
    let t = now();
    let window_open_since = t - delta(app.settings.password_reset_window);
    let fresh = || {
        Expr::col(Column::ResetWindowStartedAt)
            .is_null()
            .or(Expr::col(Column::ResetWindowStartedAt).lt(window_open_since))
    };
    let (counted, other) = match what {
        ResetCap::Codes => (Column::ResetCodesSent, Column::ResetCodesWrong),
        ResetCap::WrongCodes => (Column::ResetCodesWrong, Column::ResetCodesSent),
    };
    let under_caps = match what {
        ResetCap::Codes => Expr::col(Column::ResetCodesSent)
            .lt(RESET_MAX_CODES)
            .and(Expr::col(Column::ResetCodesWrong).lt(RESET_MAX_WRONG)),
        ResetCap::WrongCodes => Expr::col(Column::ResetCodesWrong).lt(RESET_MAX_WRONG),
    };
    let res = Entity::update_many()
        .col_expr(
            counted,
            Expr::case(fresh(), 1)
                .finally(Expr::col(counted).add(1))
                .into(),
        )
        .col_expr(
            other,
            Expr::case(fresh(), 0).finally(Expr::col(other)).into(),
        )
        .col_expr(
            Column::ResetWindowStartedAt,
            Expr::case(fresh(), t)
                .finally(Expr::col(Column::ResetWindowStartedAt))
                .into(),
        )
        .filter(Column::Id.eq(user_id))
        .filter(fresh().or(under_caps))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}
