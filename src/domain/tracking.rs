//! An order's tracking status and the rule for moving it: forward only, and
//! never out of a terminal status.

use std::{fmt, str::FromStr};

use super::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TrackingStatus {
    Pending,
    Confirmed,
    Processing,
    Shipped,
    InTransit,
    OutForDelivery,
    FailedDelivery,
    Delivered,
    Returned,
    Cancelled,
}

/// Why a status change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransitionError {
    /// The order is delivered, returned or cancelled.
    Terminal(TrackingStatus),
    /// The new status lies behind the current one.
    Backwards(TrackingStatus),
}

impl TrackingStatus {
    pub const ALL: [Self; 10] = [
        Self::Pending,
        Self::Confirmed,
        Self::Processing,
        Self::Shipped,
        Self::InTransit,
        Self::OutForDelivery,
        Self::FailedDelivery,
        Self::Delivered,
        Self::Returned,
        Self::Cancelled,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Confirmed => "CONFIRMED",
            Self::Processing => "PROCESSING",
            Self::Shipped => "SHIPPED",
            Self::InTransit => "IN_TRANSIT",
            Self::OutForDelivery => "OUT_FOR_DELIVERY",
            Self::FailedDelivery => "FAILED_DELIVERY",
            Self::Delivered => "DELIVERED",
            Self::Returned => "RETURNED",
            Self::Cancelled => "CANCELLED",
        }
    }

    /// A human label for e-mails ("Out for delivery").
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Confirmed => "Confirmed",
            Self::Processing => "Processing",
            Self::Shipped => "Shipped",
            Self::InTransit => "In transit",
            Self::OutForDelivery => "Out for delivery",
            Self::FailedDelivery => "Delivery failed",
            Self::Delivered => "Delivered",
            Self::Returned => "Returned",
            Self::Cancelled => "Cancelled",
        }
    }

    /// Accepts the names in any case.
    ///
    /// # Errors
    /// When the value names no status.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let v = raw.trim();
        Self::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(v))
            .ok_or_else(|| {
                DomainError::new(format!(
                    "Must be one of {}.",
                    Self::ALL.map(Self::as_str).join(", ")
                ))
            })
    }

    #[must_use]
    pub const fn is_terminal(self) -> bool {
        matches!(self, Self::Delivered | Self::Returned | Self::Cancelled)
    }

    /// Checks a move to `to`. Moving to the current status is not a change
    /// (`Ok(false)`), so a sender's retry neither fails nor mails twice.
    ///
    /// # Errors
    /// From a terminal status, or backwards.
    pub fn check_move(self, to: Self) -> Result<bool, TransitionError> {
        if to == self {
            return Ok(false);
        }
        if self.is_terminal() {
            return Err(TransitionError::Terminal(self));
        }
        if to < self {
            return Err(TransitionError::Backwards(self));
        }
        Ok(true)
    }
}

impl FromStr for TrackingStatus {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, DomainError> {
        Self::parse(s)
    }
}

impl fmt::Display for TrackingStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::{TrackingStatus::*, *};

    #[test]
    fn parses_any_case_and_refuses_unknown_names() {
        assert_eq!(TrackingStatus::parse("in_transit").unwrap(), InTransit);
        assert_eq!(
            TrackingStatus::parse("OUT_FOR_DELIVERY").unwrap(),
            OutForDelivery
        );
        assert!(TrackingStatus::parse("LOST").is_err());
        for s in TrackingStatus::ALL {
            assert_eq!(TrackingStatus::parse(s.as_str()).unwrap(), s);
        }
    }

    #[test]
    fn moves_forward_only() {
        assert_eq!(Pending.check_move(Shipped), Ok(true));
        assert_eq!(Shipped.check_move(Shipped), Ok(false));
        assert_eq!(
            Shipped.check_move(Confirmed),
            Err(TransitionError::Backwards(Shipped))
        );
        assert_eq!(OutForDelivery.check_move(FailedDelivery), Ok(true));
        assert_eq!(FailedDelivery.check_move(Delivered), Ok(true));
        assert_eq!(Processing.check_move(Cancelled), Ok(true));
    }

    #[test]
    fn terminal_statuses_do_not_move() {
        for t in [Delivered, Returned, Cancelled] {
            assert!(t.is_terminal());
            assert_eq!(t.check_move(Cancelled).is_err(), t != Cancelled);
            assert_eq!(t.check_move(Pending), Err(TransitionError::Terminal(t)));
        }
    }
}
