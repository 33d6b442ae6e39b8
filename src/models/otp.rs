//! One-time codes: CSPRNG, stored as a keyed hash, valid for a while, single
//! use, a bounded number of wrong attempts, and a new code replaces the old.

use sea_orm::{
    entity::prelude::*,
    sea_query::OnConflict,
    sea_query::{Expr, ExprTrait},
    ActiveValue::Set,
    ConnectionTrait,
};
use subtle::ConstantTimeEq;

pub use super::_entities::one_time_codes::{self, ActiveModel, Column, Entity, Model};
use crate::{
    domain::{now, otp::OtpCode},
    settings::{delta, AppSettings},
};

impl ActiveModelBehavior for ActiveModel {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
}

impl Purpose {
    const fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
        }
    }
}

/// The result of checking a submitted code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    Accepted,
    Invalid,
    /// The code has seen too many wrong attempts and is dead.
    TooManyAttempts,
}

fn hash(app: &AppSettings, user_id: i64, purpose: Purpose, code: &OtpCode) -> String {
    app.keys.otp.keyed_hash(
        &format!("otp:{}:{user_id}", purpose.as_str()),
        code.expose(),
    )
}

/// Issues a fresh code for `user_id`, replacing any previous one. With
/// `throttle`, nothing is issued when the last code was sent less than
/// `otp_resend_interval` ago (the check and the write are one statement).
///
/// # Errors
/// On database failure.
pub async fn issue<C: ConnectionTrait>(
    db: &C,
    app: &AppSettings,
    user_id: i64,
    purpose: Purpose,
    throttle: bool,
) -> Result<Option<OtpCode>, DbErr> {
    let s = &app.settings;
    let code = OtpCode::generate();
    let t = now();
    let row = ActiveModel {
        user_id: Set(user_id),
        purpose: Set(purpose.as_str().to_string()),
        code_hash: Set(hash(app, user_id, purpose, &code)),
        attempts: Set(0),
        expires_at: Set(t + delta(s.otp_ttl)),
        sent_at: Set(t),
        consumed_at: Set(None),
        created_at: Set(t),
        updated_at: Set(t),
        ..Default::default()
    };
    let mut on_conflict = OnConflict::columns([Column::UserId, Column::Purpose]);
    on_conflict.update_columns([
        Column::CodeHash,
        Column::Attempts,
        Column::ExpiresAt,
        Column::SentAt,
        Column::ConsumedAt,
        Column::UpdatedAt,
    ]);
    if throttle {
        let threshold = t - delta(s.otp_resend_interval);
        on_conflict.action_and_where(Expr::col((Entity, Column::SentAt)).lt(threshold));
    }
    let written = Entity::insert(row)
        .on_conflict(on_conflict)
        .exec_without_returning(db)
        .await?;
    Ok((written > 0).then_some(code))
}

/// Checks `code` and consumes it when right. Wrong codes count against the
/// attempt budget; the last allowed wrong attempt kills the code.
///
/// # Errors
/// On database failure.
pub async fn consume<C: ConnectionTrait>(
    db: &C,
    app: &AppSettings,
    user_id: i64,
    purpose: Purpose,
    code: &OtpCode,
) -> Result<Check, DbErr> {
    let max = app.settings.otp_max_attempts;
    let Some(row) = Entity::find()
        .filter(Column::UserId.eq(user_id))
        .filter(Column::Purpose.eq(purpose.as_str()))
        .one(db)
        .await?
    else {
        return Ok(Check::Invalid);
    };
    let t = now();
    if row.attempts >= max {
        return Ok(Check::TooManyAttempts);
    }
    if row.consumed_at.is_some() || row.expires_at <= t {
        return Ok(Check::Invalid);
    }
    let expected = hash(app, user_id, purpose, code);
    if !bool::from(expected.as_bytes().ct_eq(row.code_hash.as_bytes())) {
        Entity::update_many()
            .col_expr(Column::Attempts, Expr::col(Column::Attempts).add(1))
            .filter(Column::Id.eq(row.id))
            .filter(Column::Attempts.lt(max))
            .exec(db)
            .await?;
        return Ok(if row.attempts + 1 >= max {
            Check::TooManyAttempts
        } else {
            Check::Invalid
        });
    }
    // Conditional write: of two concurrent uses of one code, only one wins.
    let res = Entity::update_many()
        .col_expr(Column::ConsumedAt, Expr::value(t))
        .filter(Column::Id.eq(row.id))
        .filter(Column::ConsumedAt.is_null())
        .filter(Column::CodeHash.eq(expected))
        .filter(Column::Attempts.lt(max))
        .exec(db)
        .await?;
    Ok(if res.rows_affected == 1 {
        Check::Accepted
    } else {
        Check::Invalid
    })
}
