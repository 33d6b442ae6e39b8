//! The KYC review state machine: the one place that decides which transition
//! is legal and who may make it, whoever asks (admin API, provider webhook,
//! bulk task).

use std::{fmt, str::FromStr};

use super::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KycStatus {
    Pending,
    Approved,
    Rejected,
    Suspended,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KycAction {
    Approve,
    Reject,
    Suspend,
}

/// Who asks for a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority {
    /// An admin through the API.
    Admin,
    /// An operator with server access (`task kyc_approve`): an admin's authority.
    Operator,
    /// An identity provider's verdict.
    Provider,
}

/// What the state machine makes of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ruling {
    /// The application moves to this status.
    Moves(KycStatus),
    /// Not this authority's call: nothing changes, and the request is
    /// recorded as ignored (a provider verdict on a suspended application:
    /// a suspension is an admin's decision, lifted only by an admin).
    Ignored,
    /// The action makes no sense from this status.
    Illegal,
}

impl KycStatus {
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Suspended => "suspended",
        }
    }

    pub const ALL: [Self; 4] = [
        Self::Pending,
        Self::Approved,
        Self::Rejected,
        Self::Suspended,
    ];

    /// Accepts the lower-case names.
    ///
    /// # Errors
    /// When the value names no status.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == raw.trim())
            .ok_or_else(|| DomainError::new("One of pending, approved, rejected, suspended."))
    }

    /// Whether `by` has a say on an application in this status at all: a
    /// suspended one listens to admins only.
    #[must_use]
    pub const fn heeds(self, by: Authority) -> bool {
        !matches!((self, by), (Self::Suspended, Authority::Provider))
    }

    /// What `action`, asked by `by`, does from here:
    /// pending → approved | rejected; approved → suspended (admins only);
    /// suspended → approved (re-approval) | rejected, by an admin only (a
    /// provider's verdict on it is ignored). Rejected is final for that
    /// application (the business submits a new one).
    #[must_use]
    pub const fn apply(self, action: KycAction, by: Authority) -> Ruling {
        let admin = matches!(by, Authority::Admin | Authority::Operator);
        match (self, action) {
            _ if !self.heeds(by) => Ruling::Ignored,
            (Self::Pending | Self::Suspended, KycAction::Approve) => Ruling::Moves(Self::Approved),
            (Self::Pending | Self::Suspended, KycAction::Reject) => Ruling::Moves(Self::Rejected),
            (Self::Approved, KycAction::Suspend) if admin => Ruling::Moves(Self::Suspended),
            _ => Ruling::Illegal,
        }
    }
}

impl FromStr for KycStatus {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, DomainError> {
        Self::parse(s)
    }
}

impl fmt::Display for KycStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl KycAction {
    #[must_use]
    pub const fn verb(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Reject => "reject",
            Self::Suspend => "suspend",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Authority::*, KycAction::*, KycStatus::*, Ruling::*, *};

    #[test]
    fn legal_transitions() {
        for by in [Admin, Operator] {
            assert_eq!(Pending.apply(Approve, by), Moves(Approved));
            assert_eq!(Pending.apply(Reject, by), Moves(Rejected));
            assert_eq!(Approved.apply(Suspend, by), Moves(Suspended));
            assert_eq!(Suspended.apply(Approve, by), Moves(Approved));
            assert_eq!(Suspended.apply(Reject, by), Moves(Rejected));
        }
        assert_eq!(Pending.apply(Approve, Provider), Moves(Approved));
        assert_eq!(Pending.apply(Reject, Provider), Moves(Rejected));
    }

    #[test]
    fn illegal_transitions() {
        for by in [Admin, Operator, Provider] {
            assert_eq!(Rejected.apply(Approve, by), Illegal);
            assert_eq!(Rejected.apply(Reject, by), Illegal);
            assert_eq!(Approved.apply(Approve, by), Illegal);
            assert_eq!(Approved.apply(Reject, by), Illegal);
            assert_eq!(Pending.apply(Suspend, by), Illegal);
        }
        assert_eq!(Suspended.apply(Suspend, Admin), Illegal);
        assert_eq!(Approved.apply(Suspend, Provider), Illegal);
    }

    #[test]
    fn only_an_admin_moves_a_suspended_application() {
        for action in [Approve, Reject, Suspend] {
            assert_eq!(Suspended.apply(action, Provider), Ignored);
        }
    }

    #[test]
    fn names_round_trip() {
        for s in [Pending, Approved, Rejected, Suspended] {
            assert_eq!(KycStatus::parse(s.as_str()).ok(), Some(s));
        }
        assert_eq!(KycStatus::parse("nope").ok(), None);
    }
}
