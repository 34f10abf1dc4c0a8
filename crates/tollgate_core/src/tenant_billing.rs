//! A tenant billing its own customers on its connected account (seed 003): customers, one-off
//! invoices with the platform's application fee, and the fee split of what was paid, read from
//! Stripe's balance transaction.

use serde::Serialize;
use time::OffsetDateTime;

use crate::connect::{ChargeAmounts, InvoiceLine, NewConnectedCustomer, NewConnectedInvoice};
use crate::money::Currency;
use crate::store::Page;
use crate::store::RefundAdmission;
use crate::stripe::{
    NewStripeRefund, StripeCustomerId, StripeInvoiceId, StripePaymentIntentId, StripeRefundId,
};
use crate::tenant::{TenantError, TenantScope, Tenants, ready_to_charge};
use crate::{Email, TenantContractId, TenantCustomerId, TenantId, TenantInvoiceId, TenantRefundId};

/// Stripe's ceiling on one amount in a two-decimal currency (99,999,999 minor units).
pub const MAX_AMOUNT: i64 = 99_999_999;
pub const MAX_LINES: usize = 100;
pub const MAX_QUANTITY: i64 = 10_000;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TenantCustomer {
    pub id: TenantCustomerId,
    pub tenant_id: TenantId,
    pub email: Email,
    pub name: Option<String>,
    pub stripe_customer_id: StripeCustomerId,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    Draft,
    Open,
    Paid,
    Void,
    Uncollectible,
}

impl InvoiceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Draft => "draft",
            InvoiceStatus::Open => "open",
            InvoiceStatus::Paid => "paid",
            InvoiceStatus::Void => "void",
            InvoiceStatus::Uncollectible => "uncollectible",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "draft" => InvoiceStatus::Draft,
            "open" => InvoiceStatus::Open,
            "paid" => InvoiceStatus::Paid,
            "void" => InvoiceStatus::Void,
            "uncollectible" => InvoiceStatus::Uncollectible,
            _ => return None,
        })
    }

    /// Paid and void are final: a late, older snapshot never moves an invoice out of them.
    pub fn is_final(self) -> bool {
        matches!(self, InvoiceStatus::Paid | InvoiceStatus::Void)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TenantInvoice {
    pub id: TenantInvoiceId,
    pub tenant_id: TenantId,
    pub customer_id: TenantCustomerId,
    pub currency: String,
    pub lines: Vec<InvoiceLine>,
    /// The sum of the lines, minor units.
    pub total: i64,
    pub days_until_due: u32,
    pub status: InvoiceStatus,
    /// The platform's fee asked of Stripe when the invoice was sent.
    pub application_fee: Option<i64>,
    pub stripe_invoice_id: Option<StripeInvoiceId>,
    /// The hosted invoice page, once sent.
    pub pay_url: Option<String>,
    /// Where the money went, once paid.
    pub amounts: Option<ChargeAmounts>,
    /// Why the last payment attempt failed, if it did.
    pub failure: Option<String>,
    /// The payment that paid it, once paid (what a refund refunds).
    pub payment_intent: Option<StripePaymentIntentId>,
    /// The recurring contract that billed it; `None` for a one-off invoice.
    pub contract_id: Option<TenantContractId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// What Stripe says of a connected account's invoice, applied by `TenantStore::apply_tenant_invoice`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvoiceUpdate {
    pub stripe_invoice_id: StripeInvoiceId,
    pub status: InvoiceStatus,
    pub pay_url: Option<String>,
    pub amounts: Option<ChargeAmounts>,
    /// The payment that paid it, once paid.
    pub payment_intent: Option<StripePaymentIntentId>,
    pub failure: Option<String>,
    pub fetched_at: OffsetDateTime,
}

#[derive(Clone, Debug)]
pub struct NewInvoiceRequest {
    pub customer_id: String,
    pub currency: String,
    pub lines: Vec<InvoiceLine>,
    pub days_until_due: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum InvoiceRequestError {
    #[error("customer_id names no customer of this tenant")]
    UnknownCustomer,
    #[error("currency must be an ISO 4217 code, e.g. usd")]
    Currency,
    #[error("lines must hold 1 to {MAX_LINES} lines")]
    LineCount,
    #[error("each line needs a description of 1 to 500 characters")]
    Description,
    #[error("unit_amount must be 1 to {MAX_AMOUNT} (minor units)")]
    UnitAmount,
    #[error("quantity must be 1 to {MAX_QUANTITY}")]
    Quantity,
    #[error("the invoice's total must be at most {MAX_AMOUNT} (minor units)")]
    Total,
    #[error("days_until_due must be 1 to 365")]
    DaysUntilDue,
    #[error("email is not a valid address")]
    Email,
    #[error("the invoice is {0} and cannot be {1}")]
    WrongStatus(&'static str, &'static str),
    #[error("amount must be 1 or more (minor units)")]
    RefundAmount,
    #[error("only {remaining} (minor units) of this payment is left to refund")]
    ExceedsRemaining { remaining: i64 },
}

fn check_lines(lines: &[InvoiceLine]) -> Result<i64, InvoiceRequestError> {
    if lines.is_empty() || lines.len() > MAX_LINES {
        return Err(InvoiceRequestError::LineCount);
    }
    let mut total: i64 = 0;
    for line in lines {
        let chars = line.description.trim().chars().count();
        if chars == 0 || chars > 500 {
            return Err(InvoiceRequestError::Description);
        }
        if !(1..=MAX_AMOUNT).contains(&line.unit_amount) {
            return Err(InvoiceRequestError::UnitAmount);
        }
        if !(1..=MAX_QUANTITY).contains(&line.quantity) {
            return Err(InvoiceRequestError::Quantity);
        }
        // Both bounded above, so neither the product nor the sum can overflow an i64.
        total += line.unit_amount * line.quantity;
    }
    if total > MAX_AMOUNT {
        return Err(InvoiceRequestError::Total);
    }
    Ok(total)
}

impl From<InvoiceRequestError> for TenantError {
    fn from(error: InvoiceRequestError) -> Self {
        TenantError::Invoice(error)
    }
}

impl Tenants<'_> {
    /// The tenant's customer with this email, created on its connected account the first time
    /// (one per email per tenant, whatever the retries).
    pub async fn customer_for(
        &self,
        scope: &TenantScope,
        email: &str,
        name: Option<String>,
    ) -> Result<TenantCustomer, TenantError> {
        let email = Email::parse(email).map_err(|_| InvoiceRequestError::Email)?;
        if let Some(existing) = self.billing.tenant_customer_by_email(scope, &email).await? {
            return Ok(existing);
        }
        let tenant = self.tenant(scope).await?;
        let account = ready_to_charge(&tenant)?;
        let test_clock = self.test_clock_of(scope, &account).await?;
        let stripe_customer_id = self
            .connect
            .create_connected_customer(
                &account,
                &NewConnectedCustomer {
                    email: email.as_str().to_string(),
                    name: name.clone(),
                    idempotency_key: format!(
                        "tollgate-tenant-customer-{}-{}",
                        tenant.id,
                        crate::token::hash(email.as_str())
                    ),
                    test_clock,
                },
            )
            .await?;
        let customer = TenantCustomer {
            id: TenantCustomerId::new(),
            tenant_id: tenant.id,
            email,
            name,
            stripe_customer_id,
            created_at: self.clock.now(),
        };
        // A concurrent create of the same email stored first: its row is the customer.
        Ok(self
            .billing
            .insert_tenant_customer(scope, &customer)
            .await?)
    }

    /// Test mode with time travel on: the tenant's test clock on its connected account, made
    /// the first time (one per tenant, whatever races: the key comes from the tenant).
    async fn test_clock_of(
        &self,
        scope: &TenantScope,
        account: &crate::stripe::StripeAccountId,
    ) -> Result<Option<String>, TenantError> {
        if !self.test_clocks {
            return Ok(None);
        }
        if let Some(clock) = self.store.tenant_test_clock(scope).await? {
            return Ok(Some(clock));
        }
        let clock = self
            .connect
            .on_account(account)
            .create_test_clock(
                self.clock.now(),
                "tollgate tenant",
                &format!("tollgate-tenant-clock-{}", scope.tenant_id()),
            )
            .await?;
        Ok(Some(self.store.set_tenant_test_clock(scope, &clock).await?))
    }

    pub async fn customers(
        &self,
        scope: &TenantScope,
        page: Page<TenantCustomerId>,
    ) -> Result<Vec<TenantCustomer>, TenantError> {
        Ok(self.billing.tenant_customers(scope, page).await?)
    }

    /// A draft: nothing is at Stripe until it is sent.
    pub async fn draft_invoice(
        &self,
        scope: &TenantScope,
        request: NewInvoiceRequest,
    ) -> Result<TenantInvoice, TenantError> {
        let customer_id = TenantCustomerId::parse(&request.customer_id)
            .map_err(|_| InvoiceRequestError::UnknownCustomer)?;
        self.billing
            .tenant_customer(scope, customer_id)
            .await?
            .ok_or(InvoiceRequestError::UnknownCustomer)?;
        let currency =
            Currency::parse(&request.currency).map_err(|_| InvoiceRequestError::Currency)?;
        let total = check_lines(&request.lines)?;
        let days_until_due = u32::try_from(request.days_until_due.unwrap_or(30))
            .ok()
            .filter(|d| (1..=365).contains(d))
            .ok_or(InvoiceRequestError::DaysUntilDue)?;
        let now = self.clock.now();
        let invoice = TenantInvoice {
            id: TenantInvoiceId::new(),
            tenant_id: scope.tenant_id(),
            customer_id,
            currency: currency.as_str().to_string(),
            lines: request.lines,
            total,
            days_until_due,
            status: InvoiceStatus::Draft,
            application_fee: None,
            stripe_invoice_id: None,
            pay_url: None,
            amounts: None,
            failure: None,
            payment_intent: None,
            contract_id: None,
            created_at: now,
            updated_at: now,
        };
        self.billing.insert_tenant_invoice(scope, &invoice).await?;
        Ok(invoice)
    }

    pub async fn invoice(
        &self,
        scope: &TenantScope,
        id: TenantInvoiceId,
    ) -> Result<TenantInvoice, TenantError> {
        self.billing
            .tenant_invoice(scope, id)
            .await?
            .ok_or(TenantError::UnknownInvoice)
    }

    pub async fn invoices(
        &self,
        scope: &TenantScope,
        page: Page<TenantInvoiceId>,
    ) -> Result<Vec<TenantInvoice>, TenantError> {
        Ok(self.billing.tenant_invoices(scope, page).await?)
    }

    /// Creates the invoice on the connected account with the tenant's application fee,
    /// finalizes it and has Stripe email the customer its pay link. Sending again after a
    /// failure finishes the same invoice (each step's idempotency key comes from our id).
    pub async fn send_invoice(
        &self,
        scope: &TenantScope,
        id: TenantInvoiceId,
    ) -> Result<TenantInvoice, TenantError> {
        let invoice = self.invoice(scope, id).await?;
        if invoice.status != InvoiceStatus::Draft {
            return Err(InvoiceRequestError::WrongStatus(invoice.status.as_str(), "sent").into());
        }
        let tenant = self.tenant(scope).await?;
        let account = ready_to_charge(&tenant)?;
        let customer = self
            .billing
            .tenant_customer(scope, invoice.customer_id)
            .await?
            .ok_or(InvoiceRequestError::UnknownCustomer)?;
        let application_fee = tenant.fees.fee_on(invoice.total);
        let sent = self
            .connect
            .send_connected_invoice(
                &account,
                &NewConnectedInvoice {
                    customer: customer.stripe_customer_id,
                    currency: invoice.currency.clone(),
                    lines: invoice.lines.clone(),
                    days_until_due: invoice.days_until_due,
                    application_fee_amount: application_fee,
                    tenant_invoice: invoice.id,
                    idempotency_key: format!("tollgate-tenant-invoice-{}", invoice.id),
                },
            )
            .await?;
        let update = InvoiceUpdate {
            stripe_invoice_id: sent.id.clone(),
            status: InvoiceStatus::parse(&sent.status).unwrap_or(InvoiceStatus::Open),
            pay_url: sent.hosted_invoice_url.clone(),
            amounts: None,
            payment_intent: None,
            failure: None,
            fetched_at: self.clock.now(),
        };
        self.billing
            .mark_tenant_invoice_sent(scope, id, application_fee, &update)
            .await?;
        self.invoice(scope, id).await
    }

    /// Voids a draft here, or an open invoice at Stripe (its state then comes back as a fetch).
    pub async fn void_invoice(
        &self,
        scope: &TenantScope,
        id: TenantInvoiceId,
    ) -> Result<TenantInvoice, TenantError> {
        let invoice = self.invoice(scope, id).await?;
        match (invoice.status, &invoice.stripe_invoice_id) {
            (InvoiceStatus::Draft, _) => {
                self.billing
                    .void_tenant_draft(scope, id, self.clock.now())
                    .await?;
            }
            (InvoiceStatus::Open | InvoiceStatus::Uncollectible, Some(stripe_id)) => {
                let tenant = self.tenant(scope).await?;
                let account = tenant.account_id.ok_or(TenantError::NoAccount)?;
                let fetched_at = self.clock.now();
                let voided = self
                    .connect
                    .void_connected_invoice(&account, stripe_id)
                    .await?;
                let update = InvoiceUpdate {
                    stripe_invoice_id: voided.id,
                    status: InvoiceStatus::parse(&voided.status).unwrap_or(InvoiceStatus::Void),
                    pay_url: voided.hosted_invoice_url,
                    amounts: None,
                    payment_intent: None,
                    failure: None,
                    fetched_at,
                };
                self.billing
                    .apply_tenant_invoice(scope, &update, None)
                    .await?;
            }
            (status, _) => {
                return Err(InvoiceRequestError::WrongStatus(status.as_str(), "voided").into());
            }
        }
        self.invoice(scope, id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(unit_amount: i64, quantity: i64) -> InvoiceLine {
        InvoiceLine {
            description: "Managed backup".into(),
            unit_amount,
            quantity,
        }
    }

    #[test]
    fn lines_add_up_and_out_of_range_lines_are_refused() {
        assert_eq!(
            check_lines(&[line(5_000, 2), line(1, 1)]).expect("valid"),
            10_001
        );
        assert!(matches!(
            check_lines(&[]),
            Err(InvoiceRequestError::LineCount)
        ));
        assert!(matches!(
            check_lines(&[line(0, 1)]),
            Err(InvoiceRequestError::UnitAmount)
        ));
        assert!(matches!(
            check_lines(&[line(1, 0)]),
            Err(InvoiceRequestError::Quantity)
        ));
        assert!(matches!(
            check_lines(&[line(i64::MAX, 2)]),
            Err(InvoiceRequestError::UnitAmount)
        ));
        assert!(matches!(
            check_lines(&[line(MAX_AMOUNT, 2)]),
            Err(InvoiceRequestError::Total)
        ));
        let blank = InvoiceLine {
            description: "  ".into(),
            unit_amount: 1,
            quantity: 1,
        };
        assert!(matches!(
            check_lines(&[blank]),
            Err(InvoiceRequestError::Description)
        ));
    }

    #[test]
    fn paid_and_void_are_final() {
        for status in [InvoiceStatus::Paid, InvoiceStatus::Void] {
            assert!(status.is_final());
        }
        for status in [
            InvoiceStatus::Draft,
            InvoiceStatus::Open,
            InvoiceStatus::Uncollectible,
        ] {
            assert!(!status.is_final());
            assert_eq!(InvoiceStatus::parse(status.as_str()), Some(status));
        }
    }
}

/// A refund of a tenant's paid invoice on its connected account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TenantRefund {
    pub id: TenantRefundId,
    pub tenant_id: TenantId,
    pub invoice_id: TenantInvoiceId,
    pub amount: i64,
    /// Whether the platform gave back its fee, in proportion to the refund (Stripe's rule).
    pub refund_application_fee: bool,
    /// `pending` until Stripe answers, then Stripe's: `succeeded`, `failed` or `canceled`.
    pub status: String,
    pub stripe_refund_id: Option<StripeRefundId>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Tenants<'_> {
    /// Refunds a paid invoice, all that remains or `amount` of it, on the tenant's connected
    /// account. The refund is a row, checked against what remains in the same transaction,
    /// before Stripe is asked; Stripe's call carries our refund id as its idempotency key. The
    /// platform's fee goes back in proportion unless `refund_application_fee` is false.
    pub async fn refund_invoice(
        &self,
        scope: &TenantScope,
        invoice_id: TenantInvoiceId,
        amount: Option<i64>,
        refund_application_fee: Option<bool>,
    ) -> Result<TenantRefund, TenantError> {
        let invoice = self.invoice(scope, invoice_id).await?;
        let (Some(amounts), Some(intent)) = (invoice.amounts, invoice.payment_intent.clone())
        else {
            return Err(
                InvoiceRequestError::WrongStatus(invoice.status.as_str(), "refunded").into(),
            );
        };
        let refunded = self.billing.tenant_refunded(scope, invoice_id).await?;
        let amount = amount.unwrap_or(amounts.gross - refunded);
        if amount < 1 {
            return Err(InvoiceRequestError::RefundAmount.into());
        }
        let tenant = self.tenant(scope).await?;
        let account = tenant.account_id.ok_or(TenantError::NoAccount)?;
        let now = self.clock.now();
        let refund = TenantRefund {
            id: TenantRefundId::new(),
            tenant_id: scope.tenant_id(),
            invoice_id,
            amount,
            refund_application_fee: refund_application_fee.unwrap_or(true),
            status: "pending".into(),
            stripe_refund_id: None,
            created_at: now,
        };
        match self
            .billing
            .admit_tenant_refund(scope, &refund, amounts.gross)
            .await?
        {
            RefundAdmission::Admitted => {}
            RefundAdmission::ExceedsRemaining { remaining } => {
                return Err(InvoiceRequestError::ExceedsRemaining { remaining }.into());
            }
            RefundAdmission::NotRefundable => {
                return Err(
                    InvoiceRequestError::WrongStatus(invoice.status.as_str(), "refunded").into(),
                );
            }
        }
        let created = self
            .connect
            .on_account(&account)
            .create_refund(&NewStripeRefund {
                payment_intent: intent,
                amount,
                metadata: [(
                    "tollgate_tenant_refund_id".to_string(),
                    refund.id.to_string(),
                )]
                .into_iter()
                .collect(),
                refund_application_fee: Some(refund.refund_application_fee),
                idempotency_key: format!("tollgate-tenant-refund-{}", refund.id),
            })
            .await?;
        // A refund Stripe has not made yet stays pending, holding the amount, until its event.
        self.billing
            .link_tenant_refund(
                scope,
                refund.id,
                &created.id,
                &created.status,
                self.clock.now(),
            )
            .await?;
        Ok(TenantRefund {
            status: created.status,
            stripe_refund_id: Some(created.id),
            ..refund
        })
    }

    pub async fn refunds_of(
        &self,
        scope: &TenantScope,
        invoice_id: TenantInvoiceId,
    ) -> Result<Vec<TenantRefund>, TenantError> {
        Ok(self.billing.tenant_refunds(scope, invoice_id).await?)
    }
}
