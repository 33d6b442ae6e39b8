//! Business accounts and admins: registration with an e-mailed OTP, login with
//! per-account throttling, password reset that revokes older tokens.

use sea_orm::{
    entity::prelude::*,
    sea_query::{Expr, ExprTrait},
    ActiveValue::Set,
    ConnectionTrait,
};
use serde_json::json;

pub use super::_entities::users::{self, ActiveModel, Column, Entity, Model};
use super::{
    otp::{self, Check, Purpose},
    outbox::{self, NewMail},
    tx::Tx,
};
use crate::{
    domain::{email::Email, now, otp::OtpCode, password, password::Password},
    errors::{is_unique_violation, ApiError, ApiResult},
    limits::Limiters,
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
        reg: Registration,
    ) -> ApiResult<()> {
        // Hashed whether or not the address is taken: both answers cost the same.
        let phc = reg.password.hash_blocking().await;
        let tx = Tx::begin(db).await?;
        if let Some(existing) = Self::find_by_email(&tx, &reg.email).await? {
            queue_account_exists(&tx, app, &existing).await?;
        } else {
            let t = now();
            let inserted = ActiveModel {
                pid: Set(Uuid::new_v4()),
                email: Set(reg.email.as_str().to_string()),
                password: Set(phc),
                full_name: Set(reg.full_name),
                company_name: Set(reg.company_name),
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
                Ok(user) => send_code(&tx, app, &user, Purpose::VerifyEmail, false).await?,
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
                send_code(&tx, app, &user, Purpose::VerifyEmail, true).await?;
                tx.commit().await?;
            }
        }
        Ok(())
    }

    /// Checks credentials. Unknown e-mail and wrong password answer alike (and
    /// cost the same argon2 verification). Each attempt is counted before the
    /// password is checked, in one statement, so parallel guesses cannot
    /// overrun the budget: after `login_max_failures` attempts in
    /// `login_window_secs` without a success the answer is 429 until the
    /// window passes. Unknown addresses get the same budget, kept in memory.
    ///
    /// # Errors
    /// 401 bad credentials, 403 unverified e-mail, 429 throttled.
    pub async fn login(
        db: &DatabaseConnection,
        app: &AppSettings,
        limits: &Limiters,
        email: &str,
        candidate: &str,
    ) -> ApiResult<Self> {
        let user = match Email::parse(email) {
            Ok(email) => Self::find_by_email(db, &email).await?,
            Err(_) => None,
        };
        let Some(user) = user else {
            limits.unknown_login(&email.trim().to_lowercase())?;
            let _ = password::verify_blocking(candidate, password::dummy_hash()).await;
            return Err(ApiError::Unauthorized(INVALID_CREDENTIALS.into()));
        };
        if !reserve_login_attempt(db, app, user.id).await? {
            let window = delta(app.settings.login_window);
            let retry_after = user.failed_login_window_start.map_or(1, |start| {
                std::cmp::max((start + window - now()).num_seconds(), 1)
            });
            return Err(ApiError::RateLimited {
                message: "Too many failed login attempts. Try again later.".into(),
                retry_after: u64::try_from(retry_after).unwrap_or(1),
            });
        }
        if !password::verify_blocking(candidate, &user.password).await {
            return Err(ApiError::Unauthorized(INVALID_CREDENTIALS.into()));
        }
        Entity::update_many()
            .col_expr(Column::FailedLogins, Expr::value(0))
            .col_expr(
                Column::FailedLoginWindowStart,
                Expr::value(Option::<DateTimeWithTimeZone>::None),
            )
            .filter(Column::Id.eq(user.id))
            .exec(db)
            .await?;
        if !user.is_verified() {
            return Err(ApiError::Forbidden {
                error: "Email not verified".into(),
                message: None,
            });
        }
        Ok(user)
    }

    /// Mails a password-reset code when the account exists (throttled like resend).
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
            send_code(&tx, app, &user, Purpose::ResetPassword, true).await?;
            tx.commit().await?;
        }
        Ok(())
    }

    /// Sets a new password when `code` is right, and revokes every token issued
    /// before (token version bump). The e-mail counts as verified: the code
    /// proved control of it.
    ///
    /// # Errors
    /// 400 with the invalid-code or too-many-attempts text.
    pub async fn reset_password(
        db: &DatabaseConnection,
        app: &AppSettings,
        email: &Email,
        code: &OtpCode,
        new_password: Password,
    ) -> ApiResult<()> {
        let user = Self::find_by_email(db, email)
            .await?
            .ok_or_else(|| ApiError::BadRequest(INVALID_CODE.into()))?;
        check_code(db, app, &user, Purpose::ResetPassword, code).await?;
        let phc = new_password.hash_blocking().await;
        let t = now();
        Entity::update_many()
            .col_expr(Column::Password, Expr::value(phc))
            .col_expr(Column::TokenVersion, Expr::col(Column::TokenVersion).add(1))
            .col_expr(Column::FailedLogins, Expr::value(0))
            .col_expr(
                Column::FailedLoginWindowStart,
                Expr::value(Option::<DateTimeWithTimeZone>::None),
            )
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

    /// Creates a verified admin, or promotes (and re-passwords) an existing account.
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
            let mut am: ActiveModel = user.into();
            am.role = Set(ROLE_ADMIN.to_string());
            am.password = Set(password.hash());
            am.email_verified_at = Set(Some(t));
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

/// Issues a code and queues its e-mail in the same transaction.
async fn send_code(
    tx: &Tx,
    app: &AppSettings,
    user: &Model,
    purpose: Purpose,
    throttle: bool,
) -> Result<(), DbErr> {
    let Some(code) = otp::issue(tx, app, user.id, purpose, throttle).await? else {
        return Ok(());
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
    outbox::enqueue(tx, &app.keys.mail, NewMail::new(mail, &user.email, locals)).await
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

/// Counts a login attempt in one statement, unless the account has used its
/// budget for the current window (a new window starts when the last is over).
/// Returns whether the attempt may proceed.
async fn reserve_login_attempt(
    db: &DatabaseConnection,
    app: &AppSettings,
    user_id: i64,
) -> Result<bool, DbErr> {
    let t = now();
    let window_open_since = t - delta(app.settings.login_window);
    let fresh = || {
        Expr::col(Column::FailedLoginWindowStart)
            .is_null()
            .or(Expr::col(Column::FailedLoginWindowStart).lt(window_open_since))
    };
    let res = Entity::update_many()
        .col_expr(
            Column::FailedLogins,
            Expr::case(fresh(), 1)
                .finally(Expr::col(Column::FailedLogins).add(1))
                .into(),
        )
        .col_expr(
            Column::FailedLoginWindowStart,
            Expr::case(fresh(), t)
                .finally(Expr::col(Column::FailedLoginWindowStart))
                .into(),
        )
        .filter(Column::Id.eq(user_id))
        .filter(fresh().or(Expr::col(Column::FailedLogins).lt(app.settings.login_max_failures)))
        .exec(db)
        .await?;
    Ok(res.rows_affected == 1)
}
