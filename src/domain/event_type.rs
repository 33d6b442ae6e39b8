//! Outbound event types, the subscription filter an endpoint holds, and
//! event ids.

use std::{fmt, str::FromStr};

use super::DomainError;

/// Everything we tell a business about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    OrderCreated,
    OrderStatusChanged,
    KycApproved,
    KycRejected,
    KycSuspended,
    WebhookSecretRegenerated,
    WebhookSecretExpiring,
    /// Sent only by an endpoint's test button, to that endpoint.
    Ping,
}

impl EventType {
    pub const ALL: [Self; 8] = [
        Self::OrderCreated,
        Self::OrderStatusChanged,
        Self::KycApproved,
        Self::KycRejected,
        Self::KycSuspended,
        Self::WebhookSecretRegenerated,
        Self::WebhookSecretExpiring,
        Self::Ping,
    ];

    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::OrderCreated => "order.created",
            Self::OrderStatusChanged => "order.status_changed",
            Self::KycApproved => "kyc.approved",
            Self::KycRejected => "kyc.rejected",
            Self::KycSuspended => "kyc.suspended",
            Self::WebhookSecretRegenerated => "webhook_secret.regenerated",
            Self::WebhookSecretExpiring => "webhook_secret.expiring",
            Self::Ping => "ping",
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = DomainError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| DomainError::new(format!("Unknown event type {s:?}.")))
    }
}

/// The events an endpoint subscribes to: all (`["*"]`) or a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFilter {
    All,
    Only(Vec<EventType>),
}

impl EventFilter {
    /// Parses the `events` field: `["*"]` or a non-empty list of known types
    /// (`ping` is not subscribed to: it goes to the endpoint being tested).
    ///
    /// # Errors
    /// A message naming the unknown types.
    pub fn parse(raw: &[String]) -> Result<Self, DomainError> {
        if raw.is_empty() {
            return Err(DomainError::new(
                "Subscribe to at least one event type, or [\"*\"] for all.",
            ));
        }
        if raw.iter().any(|t| t == "*") {
            return Ok(Self::All);
        }
        let mut types = Vec::with_capacity(raw.len());
        let mut unknown = Vec::new();
        for t in raw {
            match t.parse::<EventType>() {
                Ok(EventType::Ping) | Err(_) => unknown.push(t.as_str()),
                Ok(t) if types.contains(&t) => {}
                Ok(t) => types.push(t),
            }
        }
        if !unknown.is_empty() {
            let known: Vec<&str> = EventType::ALL
                .iter()
                .filter(|t| **t != EventType::Ping)
                .map(|t| t.as_str())
                .collect();
            return Err(DomainError::new(format!(
                "Unknown event type(s) {}; use \"*\" or any of: {}.",
                unknown.join(", "),
                known.join(", ")
            )));
        }
        Ok(Self::Only(types))
    }

    #[must_use]
    pub fn matches(&self, t: EventType) -> bool {
        match self {
            Self::All => t != EventType::Ping,
            Self::Only(types) => types.contains(&t),
        }
    }

    /// As stored and shown: `["*"]` or the list.
    #[must_use]
    pub fn names(&self) -> Vec<&'static str> {
        match self {
            Self::All => vec!["*"],
            Self::Only(types) => types.iter().map(|t| t.as_str()).collect(),
        }
    }
}

/// A new event id: `evt_` + 22 base62 characters of a UUIDv7, so ids sort
/// by creation time (fixed width, and base62's digits are in ASCII order).
#[must_use]
pub fn new_event_id() -> String {
    const DIGITS: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut n = uuid::Uuid::now_v7().as_u128();
    let mut out = [b'0'; 22];
    for slot in out.iter_mut().rev() {
        *slot = DIGITS[(n % 62) as usize];
        n /= 62;
    }
    format!("evt_{}", String::from_utf8_lossy(&out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_string()).collect()
    }

    #[test]
    fn filters_parse_known_types_or_star() {
        assert_eq!(
            EventFilter::parse(&strings(&["*"])).unwrap(),
            EventFilter::All
        );
        let f = EventFilter::parse(&strings(&[
            "order.created",
            "kyc.approved",
            "order.created",
        ]))
        .unwrap();
        assert_eq!(f.names(), vec!["order.created", "kyc.approved"]);
        assert!(f.matches(EventType::OrderCreated) && !f.matches(EventType::KycRejected));
        assert!(!EventFilter::All.matches(EventType::Ping));
        let err = EventFilter::parse(&strings(&["order.deleted", "ping"]))
            .unwrap_err()
            .0;
        assert!(
            err.contains("order.deleted") && err.contains("ping") && err.contains("order.created")
        );
        assert!(EventFilter::parse(&[]).is_err());
    }

    #[test]
    fn event_ids_are_unique_fixed_width_and_time_ordered() {
        let ids: Vec<String> = (0..1000).map(|_| new_event_id()).collect();
        assert!(ids
            .iter()
            .all(|id| id.len() == 26 && id.starts_with("evt_")));
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted, ids, "unique and already in creation order");
    }

    #[test]
    fn type_names_round_trip() {
        for t in EventType::ALL {
            assert_eq!(t.as_str().parse::<EventType>().unwrap(), t);
        }
    }
}
