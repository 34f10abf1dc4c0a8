//! The `ConnectApi` port over async-stripe: connected accounts, account and login links, and a client that
//! acts as a connected account (its `Stripe-Account` on every request, retries included).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use stripe_billing::invoice::{
    CreateInvoice, CreateInvoicePendingInvoiceItemsBehavior, FinalizeInvoiceInvoice,
    RetrieveInvoice, SendInvoiceInvoice, VoidInvoiceInvoice,
};
use stripe_billing::invoice_item::CreateInvoiceItem;
use stripe_billing::subscription::{
    CreateSubscription, CreateSubscriptionCancelAt, CreateSubscriptionItems, RetrieveSubscription,
    UpdateSubscription, UpdateSubscriptionItems, UpdateSubscriptionProrationBehavior,
};
use stripe_connect::account::{
    CreateAccount, CreateAccountBusinessProfile, CreateAccountCapabilities,
    CreateAccountCapabilitiesCardPayments, CreateAccountCapabilitiesTransfers, CreateAccountType,
    RetrieveAccount,
};
use stripe_connect::account_link::{CreateAccountLink, CreateAccountLinkType};
use stripe_connect::login_link::CreateAccountLoginLink;
use stripe_core::customer::CreateCustomer;
use stripe_core::payment_intent::RetrievePaymentIntent;
use stripe_product::price::{CreatePrice, CreatePriceRecurring, CreatePriceRecurringInterval};
use stripe_product::product::CreateProduct;
use stripe_shared::{Account, Invoice, InvoiceCollectionMethod, SubscriptionCollectionMethod};
use tollgate_core::connect::{
    AccountKind, AccountSnapshot, ChargeAmounts, ConnectApi, ConnectedInvoice, ContractChange,
    HostedLink, InvoiceLine, LinkKind, NewAccountLink, NewConnectedAccount, NewConnectedCustomer,
    NewConnectedInvoice, NewContractSubscription, Requirements,
};
use tollgate_core::stripe::{
    StripeAccountId, StripeApi, StripeCustomerId, StripeError, StripeInvoiceId,
    StripePaymentIntentId, StripeSubscriptionId, SubscriptionSnapshot,
};
use tollgate_core::tenant_contracts::CONTRACT_METADATA;

use crate::client::{Key, StripeClient, currency_of};
use crate::error::unexpected;
use crate::mapping;

fn snapshot(account: Account) -> Result<AccountSnapshot, StripeError> {
    let id = StripeAccountId::parse(account.id.as_str())
        .map_err(|_| unexpected("a malformed account id"))?;
    let requirements = account
        .requirements
        .map(|r| Requirements {
            currently_due: r.currently_due.unwrap_or_default(),
            eventually_due: r.eventually_due.unwrap_or_default(),
            past_due: r.past_due.unwrap_or_default(),
            pending_verification: r.pending_verification.unwrap_or_default(),
            disabled_reason: r.disabled_reason.map(|d| d.as_str().to_owned()),
        })
        .unwrap_or_default();
    Ok(AccountSnapshot {
        id,
        // Absent means Stripe has not enabled it: a platform must never assume it can charge.
        charges_enabled: account.charges_enabled.unwrap_or(false),
        payouts_enabled: account.payouts_enabled.unwrap_or(false),
        details_submitted: account.details_submitted.unwrap_or(false),
        requirements,
    })
}

/// The metadata key that links a connected account's invoice to ours.
const TENANT_INVOICE: &str = "tollgate_tenant_invoice_id";

fn connected_invoice(invoice: Invoice) -> Result<ConnectedInvoice, StripeError> {
    let id = invoice
        .id
        .as_ref()
        .ok_or_else(|| unexpected("an invoice without id"))?;
    let id =
        StripeInvoiceId::parse(id.as_str()).map_err(|_| unexpected("a malformed invoice id"))?;
    let payment_intent = invoice
        .payments
        .as_ref()
        .and_then(|payments| {
            payments.data.iter().find_map(|p| {
                p.payment
                    .payment_intent
                    .as_ref()
                    .map(|pi| pi.id().to_string())
            })
        })
        .map(|pi| {
            StripePaymentIntentId::parse(&pi).map_err(|_| unexpected("a malformed intent id"))
        })
        .transpose()?;
    Ok(ConnectedInvoice {
        id,
        status: invoice
            .status
            .as_ref()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_else(|| "draft".to_owned()),
        amount_due: invoice.amount_due,
        amount_paid: invoice.amount_paid,
        currency: invoice.currency.to_string(),
        hosted_invoice_url: invoice.hosted_invoice_url.clone(),
        payment_intent,
        tenant_invoice: invoice
            .metadata
            .as_ref()
            .and_then(|m| m.get(TENANT_INVOICE).cloned()),
        attempt_count: i64::try_from(invoice.attempt_count).unwrap_or(i64::MAX),
        subscription: invoice
            .parent
            .as_ref()
            .and_then(|parent| parent.subscription_details.as_ref())
            .map(|details| {
                StripeSubscriptionId::parse(details.subscription.id().as_str())
                    .map_err(|_| unexpected("a malformed subscription id"))
            })
            .transpose()?,
        total: invoice.total,
        lines: invoice
            .lines
            .data
            .iter()
            .map(|line| InvoiceLine {
                description: line.description.clone().unwrap_or_default(),
                unit_amount: line.amount,
                quantity: 1,
            })
            .collect(),
        period_end: invoice
            .lines
            .data
            .iter()
            .map(|line| line.period.end)
            .max()
            .map(mapping::timestamp)
            .transpose()?,
    })
}

fn recurring(interval: &str) -> Result<CreatePriceRecurring, StripeError> {
    let interval = match interval {
        "month" => CreatePriceRecurringInterval::Month,
        "year" => CreatePriceRecurringInterval::Year,
        other => {
            return Err(StripeError::InvalidRequest {
                param: Some("recurring[interval]".to_owned()),
                message: format!("a contract is billed by month or year, not {other:?}"),
            });
        }
    };
    Ok(CreatePriceRecurring::new(interval))
}

/// The invoice's payments are included only when asked for (API 2025-03-31.basil).
fn with_payments() -> Vec<String> {
    vec!["payments".to_owned()]
}

#[async_trait]
impl ConnectApi for StripeClient {
    async fn create_connected_account(
        &self,
        request: &NewConnectedAccount,
    ) -> Result<AccountSnapshot, StripeError> {
        let mut capabilities = CreateAccountCapabilities::new();
        let mut card = CreateAccountCapabilitiesCardPayments::new();
        card.requested = Some(true);
        let mut transfers = CreateAccountCapabilitiesTransfers::new();
        transfers.requested = Some(true);
        capabilities.card_payments = Some(card);
        capabilities.transfers = Some(transfers);
        let mut profile = CreateAccountBusinessProfile::new();
        profile.name = Some(request.business_name.clone());
        let mut create = CreateAccount::new()
            .type_(match request.kind {
                AccountKind::Express => CreateAccountType::Express,
                AccountKind::Standard => CreateAccountType::Standard,
            })
            .country(request.country.as_str())
            .capabilities(capabilities)
            .business_profile(profile)
            .metadata(HashMap::from([(
                "tollgate_tenant_id".to_owned(),
                request.tenant.to_string(),
            )]));
        if let Some(email) = &request.email {
            create = create.email(email.as_str());
        }
        let account = self
            .platform()
            .send(
                "account.create",
                &create,
                Key::Given(&request.idempotency_key),
            )
            .await?;
        snapshot(account)
    }

    async fn connected_account(
        &self,
        id: &StripeAccountId,
    ) -> Result<AccountSnapshot, StripeError> {
        let account = self
            .platform()
            .send(
                "account.retrieve",
                &RetrieveAccount::new(id.as_str()),
                Key::None,
            )
            .await?;
        snapshot(account)
    }

    async fn create_account_link(
        &self,
        request: &NewAccountLink,
    ) -> Result<HostedLink, StripeError> {
        let create = CreateAccountLink::new(
            request.account.as_str(),
            match request.kind {
                LinkKind::Onboarding => CreateAccountLinkType::AccountOnboarding,
                LinkKind::Update => CreateAccountLinkType::AccountUpdate,
            },
        )
        .refresh_url(request.refresh_url.as_str())
        .return_url(request.return_url.as_str());
        // Each link is single use and short-lived: a fresh key, never a replay of an old link.
        let link = self
            .platform()
            .send("account_link.create", &create, Key::Fresh)
            .await?;
        Ok(HostedLink {
            url: link.url,
            expires_at: Some(link.expires_at),
        })
    }

    async fn create_login_link(
        &self,
        account: &StripeAccountId,
    ) -> Result<HostedLink, StripeError> {
        let link = self
            .platform()
            .send(
                "login_link.create",
                &CreateAccountLoginLink::new(account.as_str()),
                Key::Fresh,
            )
            .await?;
        Ok(HostedLink {
            url: link.url,
            expires_at: None,
        })
    }

    async fn create_connected_customer(
        &self,
        account: &StripeAccountId,
        request: &NewConnectedCustomer,
    ) -> Result<StripeCustomerId, StripeError> {
        let mut create = CreateCustomer::new().email(request.email.as_str());
        if let Some(name) = &request.name {
            create = create.name(name.as_str());
        }
        if let Some(clock) = &request.test_clock {
            create = create.test_clock(clock.as_str());
        }
        let customer = self
            .as_account(account)
            .send(
                "customer.create",
                &create,
                Key::Given(&request.idempotency_key),
            )
            .await?;
        StripeCustomerId::parse(customer.id.as_str())
            .map_err(|_| unexpected("a malformed customer id"))
    }

    async fn send_connected_invoice(
        &self,
        account: &StripeAccountId,
        request: &NewConnectedInvoice,
    ) -> Result<ConnectedInvoice, StripeError> {
        let client = self.as_account(account);
        let key = |step: &str| format!("{}-{step}", request.idempotency_key);
        let mut create = CreateInvoice::new()
            .customer(request.customer.as_str())
            .currency(currency_of(&request.currency))
            .collection_method(InvoiceCollectionMethod::SendInvoice)
            .days_until_due(request.days_until_due)
            .pending_invoice_items_behavior(CreateInvoicePendingInvoiceItemsBehavior::Exclude)
            .auto_advance(false)
            .metadata(HashMap::from([(
                TENANT_INVOICE.to_owned(),
                request.tenant_invoice.to_string(),
            )]));
        if request.application_fee_amount > 0 {
            create = create.application_fee_amount(request.application_fee_amount);
        }
        let invoice = client
            .send("invoice.create", &create, Key::Given(&key("invoice")))
            .await?;
        let id = invoice
            .id
            .clone()
            .ok_or_else(|| unexpected("an invoice without id"))?;
        for (index, line) in request.lines.iter().enumerate() {
            let amount = line
                .amount()
                .ok_or_else(|| unexpected("an invoice line that overflows"))?;
            let description = if line.quantity == 1 {
                line.description.clone()
            } else {
                format!("{} × {}", line.description, line.quantity)
            };
            let item = CreateInvoiceItem::new()
                .customer(request.customer.as_str())
                .invoice(id.as_str())
                .amount(amount)
                .currency(currency_of(&request.currency))
                .description(description);
            client
                .send(
                    "invoiceitem.create",
                    &item,
                    Key::Given(&key(&format!("line-{index}"))),
                )
                .await?;
        }
        client
            .send(
                "invoice.finalize",
                &FinalizeInvoiceInvoice::new(id.clone()),
                Key::Given(&key("finalize")),
            )
            .await?;
        let sent = client
            .send(
                "invoice.send",
                &SendInvoiceInvoice::new(id).expand(with_payments()),
                Key::Given(&key("send")),
            )
            .await?;
        connected_invoice(sent)
    }

    async fn connected_invoice(
        &self,
        account: &StripeAccountId,
        id: &StripeInvoiceId,
    ) -> Result<ConnectedInvoice, StripeError> {
        let invoice = self
            .as_account(account)
            .send(
                "invoice.retrieve",
                &RetrieveInvoice::new(id.as_str()).expand(with_payments()),
                Key::None,
            )
            .await?;
        connected_invoice(invoice)
    }

    async fn void_connected_invoice(
        &self,
        account: &StripeAccountId,
        id: &StripeInvoiceId,
    ) -> Result<ConnectedInvoice, StripeError> {
        let invoice = self
            .as_account(account)
            .send(
                "invoice.void",
                &VoidInvoiceInvoice::new(id.as_str()).expand(with_payments()),
                Key::Fresh,
            )
            .await?;
        connected_invoice(invoice)
    }

    async fn charge_amounts(
        &self,
        account: &StripeAccountId,
        payment: &StripePaymentIntentId,
    ) -> Result<Option<ChargeAmounts>, StripeError> {
        let intent = self
            .as_account(account)
            .send(
                "payment_intent.retrieve",
                &RetrievePaymentIntent::new(payment.as_str())
                    .expand(vec!["latest_charge.balance_transaction".to_owned()]),
                Key::None,
            )
            .await?;
        let Some(transaction) = intent
            .latest_charge
            .and_then(|charge| charge.into_object())
            .and_then(|charge| charge.balance_transaction)
            .and_then(|txn| txn.into_object())
        else {
            return Ok(None);
        };
        let part = |kind: &str| -> i64 {
            transaction
                .fee_details
                .iter()
                .filter(|f| f.type_ == kind)
                .map(|f| f.amount)
                .sum()
        };
        Ok(Some(ChargeAmounts {
            gross: transaction.amount,
            stripe_fee: part("stripe_fee"),
            application_fee: part("application_fee"),
            net: transaction.net,
        }))
    }

    async fn create_contract_subscription(
        &self,
        account: &StripeAccountId,
        request: &NewContractSubscription,
    ) -> Result<SubscriptionSnapshot, StripeError> {
        let client = self.as_account(account);
        let key = |step: &str| format!("{}-{step}", request.idempotency_key);
        let contract =
            HashMap::from([(CONTRACT_METADATA.to_owned(), request.contract.to_string())]);
        let product = client
            .send(
                "product.create",
                &CreateProduct::new(request.description.as_str()).metadata(contract.clone()),
                Key::Given(&key("product")),
            )
            .await?;
        let price = client
            .send(
                "price.create",
                &CreatePrice::new(currency_of(&request.currency))
                    .product(product.id.as_str())
                    .unit_amount(request.unit_amount)
                    .recurring(recurring(request.interval)?),
                Key::Given(&key(&format!("price-{}", request.unit_amount))),
            )
            .await?;
        let mut item = CreateSubscriptionItems::new();
        item.price = Some(price.id.to_string());
        item.quantity = Some(request.quantity);
        let mut create = CreateSubscription::new()
            .customer(request.customer.as_str())
            .items(vec![item])
            .collection_method(SubscriptionCollectionMethod::SendInvoice)
            .days_until_due(request.days_until_due)
            .metadata(contract);
        if request.application_fee_bps > 0 {
            create = create.application_fee_percent(f64::from(request.application_fee_bps) / 100.0);
        }
        if let Some(ends_at) = request.ends_at {
            create = create.cancel_at(CreateSubscriptionCancelAt::Timestamp(
                ends_at.unix_timestamp(),
            ));
        }
        let sub = client
            .send(
                "subscription.create",
                &create,
                Key::Given(&key("subscription")),
            )
            .await?;
        mapping::subscription(sub)
    }

    async fn change_contract_subscription(
        &self,
        account: &StripeAccountId,
        change: &ContractChange,
    ) -> Result<SubscriptionSnapshot, StripeError> {
        let client = self.as_account(account);
        let current = client
            .send(
                "subscription.retrieve",
                &RetrieveSubscription::new(change.subscription.as_str()),
                Key::None,
            )
            .await?;
        let item = current
            .items
            .data
            .first()
            .ok_or_else(|| unexpected("a subscription without items"))?;
        let price = if item.price.unit_amount == Some(change.unit_amount) {
            item.price.id.to_string()
        } else {
            client
                .send(
                    "price.create",
                    &CreatePrice::new(currency_of(&change.currency))
                        .product(item.price.product.id().as_str())
                        .unit_amount(change.unit_amount)
                        .recurring(recurring(change.interval)?),
                    Key::Given(&change.idempotency_key),
                )
                .await?
                .id
                .to_string()
        };
        let mut moved = UpdateSubscriptionItems::new();
        moved.id = Some(item.id.to_string());
        moved.price = Some(price);
        moved.quantity = Some(change.quantity);
        // Setting values is idempotent: a retry asks for the same state again.
        let sub = client
            .send(
                "subscription.update",
                &UpdateSubscription::new(change.subscription.as_str())
                    .items(vec![moved])
                    .proration_behavior(UpdateSubscriptionProrationBehavior::CreateProrations),
                Key::Fresh,
            )
            .await?;
        mapping::subscription(sub)
    }

    fn on_account(&self, account: &StripeAccountId) -> Arc<dyn StripeApi> {
        Arc::new(self.as_account(account))
    }
}

impl StripeClient {
    /// This client as `account`: every request carries its `Stripe-Account`.
    fn as_account(&self, account: &StripeAccountId) -> StripeClient {
        let mut scoped = self.clone();
        scoped.account = Some(account.as_str().into());
        scoped
    }

    /// This client as the platform: account-level calls are the platform's, whatever account it acts as.
    fn platform(&self) -> std::borrow::Cow<'_, StripeClient> {
        match self.account {
            None => std::borrow::Cow::Borrowed(self),
            Some(_) => {
                let mut platform = self.clone();
                platform.account = None;
                std::borrow::Cow::Owned(platform)
            }
        }
    }
}
