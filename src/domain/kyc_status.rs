//! The KYC review state machine: the one place that decides which transition
//! is legal, whoever asks (admin API, provider webhook, bulk task).

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

    /// The status `action` leads to from here, or `None` when illegal:
    /// pending → approved | rejected; approved → suspended;
    /// suspended → approved (re-approval) | rejected. Rejected is final for
    /// that application (the business submits a new one).
    #[must_use]
    pub const fn apply(self, action: KycAction) -> Option<Self> {
        match (self, action) {
            (Self::Pending | Self::Suspended, KycAction::Approve) => Some(Self::Approved),
            (Self::Pending | Self::Suspended, KycAction::Reject) => Some(Self::Rejected),
            (Self::Approved, KycAction::Suspend) => Some(Self::Suspended),
            _ => None,
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
    use super::{KycAction::*, KycStatus::*, *};

    #[test]
    fn legal_transitions() {
        assert_eq!(Pending.apply(Approve), Some(Approved));
        assert_eq!(Pending.apply(Reject), Some(Rejected));
        assert_eq!(Approved.apply(Suspend), Some(Suspended));
        assert_eq!(Suspended.apply(Approve), Some(Approved));
        assert_eq!(Suspended.apply(Reject), Some(Rejected));
    }

    #[test]
    fn illegal_transitions() {
        assert_eq!(Rejected.apply(Approve), None);
        assert_eq!(Rejected.apply(Reject), None);
        assert_eq!(Approved.apply(Approve), None);
        assert_eq!(Approved.apply(Reject), None);
        assert_eq!(Pending.apply(Suspend), None);
        assert_eq!(Suspended.apply(Suspend), None);
    }

    #[test]
    fn names_round_trip() {
        for s in [Pending, Approved, Rejected, Suspended] {
            assert_eq!(KycStatus::parse(s.as_str()).ok(), Some(s));
        }
        assert_eq!(KycStatus::parse("nope").ok(), None);
    }
}
