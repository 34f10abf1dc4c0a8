//! Connect: a tenant's customers, invoices and refunds on its connected account.

use serde::Serialize;
use tollgate_core::connect::{ChargeAmounts, InvoiceLine};
use tollgate_core::tenant_billing::{TenantCustomer, TenantInvoice, TenantRefund};

#[derive(Serialize)]
pub struct TenantCustomerBody<'a> {
    id: String,
    email: &'a str,
    name: Option<&'a str>,
    stripe_customer_id: &'a str,
    #[serde(with = "time::serde::rfc3339")]
    created_at: time::OffsetDateTime,
}

impl<'a> TenantCustomerBody<'a> {
    pub fn of(customer: &'a TenantCustomer) -> Self {
        TenantCustomerBody {
            id: customer.id.to_string(),
            email: customer.email.as_str(),
            name: customer.name.as_deref(),
            stripe_customer_id: customer.stripe_customer_id.as_str(),
            created_at: customer.created_at,
        }
    }
}

#[derive(Serialize)]
pub struct TenantInvoiceBody<'a> {
    id: String,
    customer_id: String,
    currency: &'a str,
    lines: &'a [InvoiceLine],
    total: i64,
    days_until_due: u32,
    /// `draft`, `open`, `paid`, `void` or `uncollectible`.
    status: &'static str,
    application_fee: Option<i64>,
    stripe_invoice_id: Option<&'a str>,
    pay_url: Option<&'a str>,
    /// From the charge's balance transaction, once paid: `{gross, stripe_fee, application_fee, net}`.
    amounts: Option<ChargeAmounts>,
    failure: Option<&'a str>,
    /// The recurring contract that billed it; `null` for a one-off invoice.
    contract_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: time::OffsetDateTime,
}

impl<'a> TenantInvoiceBody<'a> {
    pub fn of(invoice: &'a TenantInvoice) -> Self {
        TenantInvoiceBody {
            id: invoice.id.to_string(),
            customer_id: invoice.customer_id.to_string(),
            currency: &invoice.currency,
            lines: &invoice.lines,
            total: invoice.total,
            days_until_due: invoice.days_until_due,
            status: invoice.status.as_str(),
            application_fee: invoice.application_fee,
            stripe_invoice_id: invoice.stripe_invoice_id.as_ref().map(|i| i.as_str()),
            pay_url: invoice.pay_url.as_deref(),
            amounts: invoice.amounts,
            failure: invoice.failure.as_deref(),
            contract_id: invoice.contract_id.map(|id| id.to_string()),
            created_at: invoice.created_at,
        }
    }
}

#[derive(Serialize)]
pub struct TenantRefundBody<'a> {
    id: String,
    invoice_id: String,
    amount: i64,
    refund_application_fee: bool,
    /// `pending`, `succeeded`, `failed` or `canceled`.
    status: &'a str,
    stripe_refund_id: Option<&'a str>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: time::OffsetDateTime,
}

impl<'a> TenantRefundBody<'a> {
    pub fn of(refund: &'a TenantRefund) -> Self {
        TenantRefundBody {
            id: refund.id.to_string(),
            invoice_id: refund.invoice_id.to_string(),
            amount: refund.amount,
            refund_application_fee: refund.refund_application_fee,
            status: &refund.status,
            stripe_refund_id: refund.stripe_refund_id.as_ref().map(|r| r.as_str()),
            created_at: refund.created_at,
        }
    }
}

/// One invoice with its refunds.
#[derive(Serialize)]
pub struct TenantInvoiceDetailBody<'a> {
    #[serde(flatten)]
    pub invoice: TenantInvoiceBody<'a>,
    pub refunds: Vec<TenantRefundBody<'a>>,
}
