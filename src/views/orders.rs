use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::models::{_entities::order_status_changes, orders};

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerView {
    pub name: String,
    pub email: String,
    pub phone: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OrderView {
    pub id: Uuid,
    pub external_order_id: Option<String>,
    pub customer_details: CustomerView,
    pub item_summary: String,
    pub address: String,
    pub tracking_status: String,
    pub created_at: DateTime<FixedOffset>,
    pub updated_at: DateTime<FixedOffset>,
}

impl From<&orders::Model> for OrderView {
    fn from(o: &orders::Model) -> Self {
        Self {
            id: o.pid,
            external_order_id: o.external_order_id.clone(),
            customer_details: CustomerView {
                name: o.customer_name.clone(),
                email: o.customer_email.clone(),
                phone: o.customer_phone.clone(),
            },
            item_summary: o.item_summary.clone(),
            address: o.address.clone(),
            tracking_status: o.tracking_status.clone(),
            created_at: o.created_at,
            updated_at: o.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryView {
    pub from_status: Option<String>,
    pub to_status: String,
    pub note: Option<String>,
    pub source: String,
    pub at: DateTime<FixedOffset>,
}

impl From<&order_status_changes::Model> for HistoryView {
    fn from(h: &order_status_changes::Model) -> Self {
        Self {
            from_status: h.from_status.clone(),
            to_status: h.to_status.clone(),
            note: h.note.clone(),
            source: h.source.clone(),
            at: h.created_at,
        }
    }
}

/// An order with its status history.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrderDetailView {
    #[serde(flatten)]
    pub order: OrderView,
    pub history: Vec<HistoryView>,
}

/// `POST /webhooks/orders/` answers.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"status": "success", "order_id": "550e8400-e29b-41d4-a716-446655440000"}))]
pub struct IntakeView {
    /// `success` (201) or `duplicate` (200, an order already taken).
    pub status: &'static str,
    pub order_id: Uuid,
}
