//! A member's invoices as synced from Stripe: the payment history and seed 000's payment date.

use time::OffsetDateTime;

use crate::UserId;
use crate::stripe::{StripeInvoiceId, StripeSubscriptionId};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invoice {
    pub id: StripeInvoiceId,
    pub user_id: UserId,
    pub subscription: Option<StripeSubscriptionId>,
    pub status: String,
    pub amount_due: i64,
    pub amount_paid: i64,
    pub currency: String,
    pub paid_at: Option<OffsetDateTime>,
    pub hosted_invoice_url: Option<String>,
    pub created_at: OffsetDateTime,
}
