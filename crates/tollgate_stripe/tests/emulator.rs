//! The adapter against the Stripe emulator over real HTTP: every `StripeApi` method, idempotency, and error mapping.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use serde_json::Value;
use stripe_emulator::{EmulatorConfig, RunningEmulator};
use time::OffsetDateTime;
use tollgate_core::stripe::{
    CheckoutLine, CheckoutMode, CheckoutSessionId, NewCheckout, NewCustomer, NewPaymentIntent,
    NewProductPrice, NewStripeRefund, PriceSnapshot, StripeApi, StripeCustomerId, StripeError,
    StripeInvoiceId, StripePriceId, StripeSubscriptionId, SubscriptionStatus,
};
use tollgate_core::{Secret, UserId};
use tollgate_stripe::pacing::Pacing;
use tollgate_stripe::{StripeClient, StripeClientConfig};

const KEY: &str = "sk_test_tollgate_adapter";

struct Harness {
    emulator: RunningEmulator,
    client: StripeClient,
    /// Plays the buyer's browser on hosted pages, and reads raw objects to cross-check the mapping.
    http: reqwest::Client,
}

impl Harness {
    async fn start() -> Result<Harness> {
        let emulator = stripe_emulator::start(EmulatorConfig {
            bind: "127.0.0.1:0".parse()?,
            ..Default::default()
        })
        .await?;
        let client = StripeClient::new(config(emulator.base_url(), KEY))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Harness {
            emulator,
            client,
            http,
        })
    }

    /// An object as the emulator serves it, for checking the mapping against the source.
    async fn raw(&self, path: &str) -> Result<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.emulator.base_url()))
            .bearer_auth(KEY)
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "GET {path}: {}",
            response.status()
        );
        Ok(response.json().await?)
    }

    async fn raw_post(&self, path: &str, form: &[(&str, &str)]) -> Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.emulator.base_url()))
            .bearer_auth(KEY)
            .form(form)
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "POST {path}: {}",
            response.status()
        );
        Ok(response.json().await?)
    }

    /// Submits the hosted checkout page with a test card, as a buyer would; returns the HTTP status.
    async fn pay(&self, url: &str, card: &str) -> Result<u16> {
        let response = self
            .http
            .post(url)
            .form(&[
                ("action", "pay"),
                ("card_number", card),
                ("email", "buyer@example.com"),
                ("name", "Ada"),
            ])
            .send()
            .await?;
        Ok(response.status().as_u16())
    }

    async fn customer(&self, key: &str) -> Result<StripeCustomerId> {
        self.customer_of(UserId::new(), key).await
    }

    /// As tollgate does it: one user, one key, the same parameters on every attempt.
    async fn customer_of(&self, user_id: UserId, key: &str) -> Result<StripeCustomerId> {
        Ok(self
            .client
            .create_customer(&NewCustomer {
                user_id,
                email: Some("member@example.com".to_owned()),
                idempotency_key: key.to_owned(),
                test_clock: None,
            })
            .await?)
    }

    async fn price(&self, lookup_key: &str, interval: Option<&str>) -> Result<PriceSnapshot> {
        Ok(self
            .client
            .create_product_and_price(&NewProductPrice {
                product_name: "Pro".to_owned(),
                lookup_key: lookup_key.to_owned(),
                unit_amount: 4900,
                currency: "usd".to_owned(),
                interval: interval.map(str::to_owned),
                idempotency_key: format!("price-{lookup_key}"),
            })
            .await?)
    }

    /// A customer subscribed to a monthly price through a paid Checkout Session.
    async fn subscribed(&self, trial_period_days: Option<u32>) -> Result<Subscribed> {
        let price = self.price("pro_monthly", Some("month")).await?;
        let customer = self.customer("customer-subscribed").await?;
        let session = self
            .client
            .create_checkout_session(&checkout(&customer, &price.id, trial_period_days))
            .await?;
        let url = session.url.clone().context("an open session has a URL")?;
        ensure!(
            self.pay(&url, "4242424242424242").await? == 303,
            "checkout did not complete"
        );
        let done = self.client.checkout_session(&session.id).await?;
        let subscription = done.subscription.clone().context("a subscription")?;
        Ok(Subscribed {
            price,
            customer,
            session: done.id,
            subscription,
        })
    }
}

struct Subscribed {
    price: PriceSnapshot,
    customer: StripeCustomerId,
    session: CheckoutSessionId,
    subscription: StripeSubscriptionId,
}

fn config(base: &str, key: &str) -> StripeClientConfig {
    StripeClientConfig {
        secret_key: Secret::new(key.to_owned()),
        api_base: Some(base.to_owned()),
        timeout: Duration::from_secs(10),
        max_retries: 2,
        first_retry_delay: Duration::from_millis(10),
        // The emulator is not Stripe: it has no rate limits to stay under.
        pacing: Pacing::OFF,
    }
}

fn checkout(
    customer: &StripeCustomerId,
    price: &StripePriceId,
    trial_period_days: Option<u32>,
) -> NewCheckout {
    NewCheckout {
        mode: CheckoutMode::Subscription,
        customer: customer.clone(),
        line: CheckoutLine::Price {
            price: price.clone(),
            quantity: 1,
        },
        success_url: "https://app.test/billing/success?session={CHECKOUT_SESSION_ID}".to_owned(),
        cancel_url: "https://app.test/billing".to_owned(),
        client_reference_id: "user-42".to_owned(),
        metadata: BTreeMap::from([("tollgate_plan".to_owned(), "pro".to_owned())]),
        trial_period_days,
        allow_promotion_codes: true,
        payment_intent_metadata: BTreeMap::new(),
        idempotency_key: format!("checkout-{customer}"),
    }
}

fn unix(value: &Value) -> Result<OffsetDateTime> {
    Ok(OffsetDateTime::from_unix_timestamp(
        value.as_i64().context("a unix time")?,
    )?)
}

#[tokio::test]
async fn creating_a_customer_twice_with_one_idempotency_key_returns_the_same_customer() -> Result<()>
{
    let h = Harness::start().await?;
    let user = UserId::new();
    let first = h.customer_of(user, "customer-user-1").await?;
    let again = h.customer_of(user, "customer-user-1").await?;
    let other = h.customer("customer-user-2").await?;
    assert_eq!(first, again);
    assert_ne!(first, other);
    let customers = h.raw("/v1/customers?limit=100").await?;
    assert_eq!(customers["data"].as_array().map(Vec::len), Some(2));
    Ok(())
}

#[tokio::test]
async fn a_customer_snapshot_has_the_email_and_our_user_id_in_metadata() -> Result<()> {
    let h = Harness::start().await?;
    let user_id = UserId::new();
    let id = h
        .client
        .create_customer(&NewCustomer {
            user_id,
            email: Some("ada@example.com".to_owned()),
            idempotency_key: format!("customer-{user_id}"),
            test_clock: None,
        })
        .await?;
    let snapshot = h.client.customer(&id).await?;
    assert_eq!(snapshot.id, id);
    assert_eq!(snapshot.email.as_deref(), Some("ada@example.com"));
    assert_eq!(
        snapshot.metadata.get("tollgate_user_id"),
        Some(&user_id.to_string())
    );
    assert!(!snapshot.deleted);
    Ok(())
}

#[tokio::test]
async fn a_deleted_customer_is_reported_as_deleted() -> Result<()> {
    let h = Harness::start().await?;
    let id = h.customer("customer-to-delete").await?;
    let response = h
        .http
        .delete(format!("{}/v1/customers/{id}", h.emulator.base_url()))
        .bearer_auth(KEY)
        .send()
        .await?;
    ensure!(
        response.status().is_success(),
        "delete: {}",
        response.status()
    );
    let snapshot = h.client.customer(&id).await?;
    assert_eq!(snapshot.id, id);
    assert!(snapshot.deleted);
    Ok(())
}

#[tokio::test]
async fn a_subscription_checkout_session_carries_mode_metadata_and_a_hosted_url() -> Result<()> {
    let h = Harness::start().await?;
    let price = h.price("pro_monthly", Some("month")).await?;
    let customer = h.customer("customer-checkout").await?;
    let request = checkout(&customer, &price.id, None);
    let session = h.client.create_checkout_session(&request).await?;
    assert_eq!(session.mode, CheckoutMode::Subscription);
    assert_eq!(session.status, "open");
    assert_eq!(session.payment_status, "unpaid");
    assert_eq!(session.customer.as_ref(), Some(&customer));
    assert_eq!(session.client_reference_id.as_deref(), Some("user-42"));
    assert_eq!(session.metadata, request.metadata);
    assert_eq!(session.amount_total, Some(4900));
    assert_eq!(session.currency.as_deref(), Some("usd"));
    assert!(session.subscription.is_none());
    let url = session.url.clone().context("url")?;
    assert!(url.starts_with(h.emulator.base_url()), "{url}");
    let raw = h
        .raw(&format!("/v1/checkout/sessions/{}", session.id))
        .await?;
    assert_eq!(raw["allow_promotion_codes"], true);
    assert_eq!(session.expires_at, unix(&raw["expires_at"])?);

    let again = h.client.create_checkout_session(&request).await?;
    assert_eq!(
        again.id, session.id,
        "the same idempotency key returns the same session"
    );
    Ok(())
}

#[tokio::test]
async fn a_paid_subscription_checkout_yields_an_active_subscription_and_a_paid_invoice()
-> Result<()> {
    let h = Harness::start().await?;
    let s = h.subscribed(None).await?;

    let session = h.client.checkout_session(&s.session).await?;
    assert_eq!(session.status, "complete");
    assert_eq!(session.payment_status, "paid");
    assert_eq!(session.subscription.as_ref(), Some(&s.subscription));

    let sub = h.client.subscription(&s.subscription).await?;
    let raw = h
        .raw(&format!("/v1/subscriptions/{}", s.subscription))
        .await?;
    let item = &raw["items"]["data"][0];
    assert_eq!(sub.id, s.subscription);
    assert_eq!(sub.customer, s.customer);
    assert_eq!(sub.status, SubscriptionStatus::Active);
    assert_eq!(sub.price, s.price.id);
    assert_eq!(sub.price_lookup_key.as_deref(), Some("pro_monthly"));
    assert_eq!(sub.quantity, 1);
    assert_eq!(
        sub.current_period_start,
        unix(&item["current_period_start"])?
    );
    assert_eq!(sub.current_period_end, unix(&item["current_period_end"])?);
    assert!(sub.current_period_end > sub.current_period_start);
    assert!(!sub.cancel_at_period_end);
    assert_eq!(sub.canceled_at, None);
    assert_eq!(sub.ended_at, None);
    assert_eq!(sub.trial_end, None);
    assert_eq!(
        sub.metadata.get("tollgate_plan").map(String::as_str),
        Some("pro"),
        "the session's metadata is copied onto the subscription"
    );

    let invoice_id = raw["latest_invoice"].as_str().context("latest_invoice")?;
    let invoice = h
        .client
        .invoice(&StripeInvoiceId::parse(invoice_id)?)
        .await?;
    assert_eq!(invoice.id.as_str(), invoice_id);
    assert_eq!(invoice.customer, s.customer);
    assert_eq!(invoice.subscription.as_ref(), Some(&s.subscription));
    assert_eq!(invoice.status, "paid");
    assert_eq!(invoice.amount_paid, 4900);
    assert_eq!(invoice.currency, "usd");
    let raw_invoice = h.raw(&format!("/v1/invoices/{invoice_id}")).await?;
    assert_eq!(
        invoice.paid_at,
        Some(unix(&raw_invoice["status_transitions"]["paid_at"])?)
    );
    Ok(())
}

#[tokio::test]
async fn a_trial_requested_at_checkout_starts_a_trialing_subscription() -> Result<()> {
    let h = Harness::start().await?;
    let s = h.subscribed(Some(7)).await?;
    let sub = h.client.subscription(&s.subscription).await?;
    assert_eq!(sub.status, SubscriptionStatus::Trialing);
    let trial_end = sub.trial_end.context("trial_end")?;
    assert_eq!(trial_end - sub.created, time::Duration::days(7));
    Ok(())
}

#[tokio::test]
async fn a_subscription_cancels_at_period_end_resumes_and_cancels_now() -> Result<()> {
    let h = Harness::start().await?;
    let s = h.subscribed(None).await?;

    let ending = h.client.cancel_subscription(&s.subscription, true).await?;
    assert!(ending.cancel_at_period_end);
    assert_eq!(ending.status, SubscriptionStatus::Active);

    let resumed = h.client.resume_subscription(&s.subscription).await?;
    assert!(!resumed.cancel_at_period_end);
    assert_eq!(resumed.status, SubscriptionStatus::Active);

    let canceled = h.client.cancel_subscription(&s.subscription, false).await?;
    assert_eq!(canceled.status, SubscriptionStatus::Canceled);
    assert!(canceled.canceled_at.is_some());
    assert!(canceled.ended_at.is_some());
    assert_eq!(
        h.client.subscription(&s.subscription).await?.status,
        SubscriptionStatus::Canceled
    );
    Ok(())
}

#[tokio::test]
async fn a_portal_session_url_points_at_the_hosted_portal() -> Result<()> {
    let h = Harness::start().await?;
    let customer = h.customer("customer-portal").await?;
    let url = h
        .client
        .create_portal_session(&customer, "https://app.test/billing")
        .await?;
    assert!(url.starts_with(h.emulator.base_url()), "{url}");
    assert!(url.contains("/portal/bps_"), "{url}");
    Ok(())
}

#[tokio::test]
async fn a_price_is_found_by_its_lookup_key_only_while_active() -> Result<()> {
    let h = Harness::start().await?;
    let created = h.price("pro_yearly", Some("year")).await?;
    assert_eq!(created.lookup_key.as_deref(), Some("pro_yearly"));
    assert_eq!(created.interval.as_deref(), Some("year"));
    assert_eq!(created.unit_amount, 4900);
    assert_eq!(created.currency, "usd");
    assert!(created.active);

    assert_eq!(
        h.client.price_by_lookup_key("pro_yearly").await?,
        Some(created.clone())
    );
    assert_eq!(h.client.price_by_lookup_key("no_such_plan").await?, None);
    assert_eq!(h.client.price(&created.id).await?, created);

    h.raw_post(
        &format!("/v1/prices/{}", created.id),
        &[("active", "false")],
    )
    .await?;
    assert_eq!(h.client.price_by_lookup_key("pro_yearly").await?, None);
    Ok(())
}

#[tokio::test]
async fn create_product_and_price_makes_a_one_time_price_of_a_new_product() -> Result<()> {
    let h = Harness::start().await?;
    let price = h.price("credits_100", None).await?;
    assert_eq!(price.interval, None);
    let product = h.raw(&format!("/v1/products/{}", price.product)).await?;
    assert_eq!(product["name"], "Pro");
    let again = h.price("credits_100", None).await?;
    assert_eq!(
        again.id, price.id,
        "the same idempotency key returns the same price"
    );
    Ok(())
}

#[tokio::test]
async fn unknown_ids_are_not_found() -> Result<()> {
    let h = Harness::start().await?;
    let c = &h.client;
    assert_eq!(
        c.customer(&StripeCustomerId::parse("cus_nope")?).await,
        Err(StripeError::NotFound)
    );
    assert_eq!(
        c.subscription(&StripeSubscriptionId::parse("sub_nope")?)
            .await,
        Err(StripeError::NotFound)
    );
    assert_eq!(
        c.invoice(&StripeInvoiceId::parse("in_nope")?).await,
        Err(StripeError::NotFound)
    );
    assert_eq!(
        c.price(&StripePriceId::parse("price_nope")?).await,
        Err(StripeError::NotFound)
    );
    assert_eq!(
        c.checkout_session(&CheckoutSessionId::parse("cs_test_nope")?)
            .await,
        Err(StripeError::NotFound)
    );
    Ok(())
}

#[tokio::test]
async fn a_rejected_secret_key_is_an_authentication_error_that_does_not_echo_the_key() -> Result<()>
{
    let h = Harness::start().await?;
    let client = StripeClient::new(config(h.emulator.base_url(), "sk_live_wrongkey123"))?;
    let error = client
        .customer(&StripeCustomerId::parse("cus_any")?)
        .await
        .expect_err("the emulator only accepts sk_test_ keys");
    assert_eq!(error, StripeError::Authentication);
    assert!(!format!("{error} {error:?}").contains("wrongkey"));
    Ok(())
}

#[tokio::test]
async fn an_invalid_parameter_is_an_invalid_request_naming_the_param() -> Result<()> {
    let h = Harness::start().await?;
    let error = h
        .client
        .create_product_and_price(&NewProductPrice {
            product_name: "Broken".to_owned(),
            lookup_key: "broken".to_owned(),
            unit_amount: -1,
            currency: "usd".to_owned(),
            interval: None,
            idempotency_key: "price-broken".to_owned(),
        })
        .await
        .expect_err("negative amounts are refused");
    assert!(
        matches!(&error, StripeError::InvalidRequest { param: Some(p), .. } if p == "unit_amount"),
        "{error:?}"
    );
    Ok(())
}

#[tokio::test]
async fn reusing_an_idempotency_key_with_other_parameters_is_an_invalid_request() -> Result<()> {
    let h = Harness::start().await?;
    h.customer("customer-reused").await?;
    let error = h
        .client
        .create_customer(&NewCustomer {
            user_id: UserId::new(),
            email: Some("someone-else@example.com".to_owned()),
            idempotency_key: "customer-reused".to_owned(),
            test_clock: None,
        })
        .await
        .expect_err("Stripe refuses a key reused with other parameters");
    assert!(
        matches!(error, StripeError::InvalidRequest { .. }),
        "{error:?}"
    );
    Ok(())
}

#[tokio::test]
async fn an_unknown_price_at_checkout_is_an_invalid_request_naming_the_line_item() -> Result<()> {
    let h = Harness::start().await?;
    let customer = h.customer("customer-unknown-price").await?;
    let error = h
        .client
        .create_checkout_session(&checkout(
            &customer,
            &StripePriceId::parse("price_nope")?,
            None,
        ))
        .await
        .expect_err("no such price");
    assert!(
        matches!(
            error,
            StripeError::NotFound | StripeError::InvalidRequest { .. }
        ),
        "{error:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_payment_checkout_session_carries_its_metadata_and_no_subscription() -> Result<()> {
    let h = Harness::start().await?;
    let price = h.price("credits_500", None).await?;
    let customer = h.customer("customer-payment").await?;
    let mut request = checkout(&customer, &price.id, None);
    request.mode = CheckoutMode::Payment;
    request.line = CheckoutLine::Price {
        price: price.id.clone(),
        quantity: 2,
    };
    request.allow_promotion_codes = false;
    let session = h.client.create_checkout_session(&request).await?;
    assert_eq!(session.mode, CheckoutMode::Payment);
    assert_eq!(session.metadata, request.metadata);
    assert_eq!(session.amount_total, Some(9800));
    assert_eq!(session.subscription, None);
    ensure!(
        h.pay(session.url.as_deref().context("url")?, "4242424242424242")
            .await?
            == 303
    );
    let done = h.client.checkout_session(&session.id).await?;
    assert_eq!(done.status, "complete");
    assert_eq!(done.payment_status, "paid");
    assert!(done.payment_intent.is_some());
    assert_eq!(done.subscription, None);
    Ok(())
}

#[tokio::test]
async fn an_inline_amount_purchase_tags_its_intent_and_refunds_read_back_once_per_object()
-> Result<()> {
    let h = Harness::start().await?;
    let customer = h.customer("customer-credits").await?;
    let tag = BTreeMap::from([("payment_id".to_owned(), "pay-1".to_owned())]);
    let mut request = checkout(&customer, &StripePriceId::parse("price_unused")?, None);
    request.mode = CheckoutMode::Payment;
    request.line = CheckoutLine::Amount {
        amount: 1000,
        currency: "usd".to_owned(),
        name: "1,000 credits".to_owned(),
    };
    request.payment_intent_metadata = tag.clone();
    request.allow_promotion_codes = false;
    let session = h.client.create_checkout_session(&request).await?;
    assert_eq!(session.amount_total, Some(1000));
    ensure!(
        h.pay(session.url.as_deref().context("url")?, "4242424242424242")
            .await?
            == 303
    );
    let done = h.client.checkout_session(&session.id).await?;
    let intent = h
        .client
        .payment_intent(done.payment_intent.as_ref().context("intent")?)
        .await?;
    assert_eq!(intent.status, "succeeded");
    assert_eq!(intent.metadata, tag);
    assert_eq!(intent.last_error_code, None);
    let charge = intent.latest_charge.clone().context("charge")?;

    let refund = |amount: i64, key: &str| NewStripeRefund {
        payment_intent: intent.id.clone(),
        amount,
        metadata: BTreeMap::from([("tollgate_refund_id".to_owned(), key.to_owned())]),
        refund_application_fee: None,
        idempotency_key: format!("refund-{key}"),
    };
    let first = h.client.create_refund(&refund(400, "a")).await?;
    // The same key again: Stripe answers with the same refund, not a second one.
    let again = h.client.create_refund(&refund(400, "a")).await?;
    assert_eq!(first.id, again.id);
    let second = h.client.create_refund(&refund(600, "b")).await?;
    assert_eq!(h.client.refund(&first.id).await?.amount, 400);
    let listed = h.client.refunds_of_charge(&charge).await?;
    let mut amounts: Vec<i64> = listed.iter().map(|r| r.amount).collect();
    amounts.sort_unstable();
    assert_eq!(amounts, vec![400, 600]);
    assert!(listed.iter().all(|r| r.status == "succeeded"));
    assert_eq!(second.payment_intent.as_ref(), Some(&intent.id));
    let over = h.client.create_refund(&refund(1, "c")).await;
    assert!(
        matches!(over, Err(StripeError::InvalidRequest { .. })),
        "{over:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_payment_intent_is_created_once_per_key_and_a_decline_shows_its_code() -> Result<()> {
    let h = Harness::start().await?;
    let customer = h.customer("customer-intent").await?;
    let request = NewPaymentIntent {
        customer: customer.clone(),
        amount: 2500,
        currency: "usd".to_owned(),
        description: Some("2,500 credits".to_owned()),
        metadata: BTreeMap::from([("payment_id".to_owned(), "pay-2".to_owned())]),
        idempotency_key: "intent-pay-2".to_owned(),
    };
    let intent = h.client.create_payment_intent(&request).await?;
    assert_eq!(
        h.client.create_payment_intent(&request).await?.id,
        intent.id
    );
    assert!(
        intent
            .client_secret
            .as_deref()
            .is_some_and(|s| s.contains("_secret_"))
    );
    assert_eq!(intent.customer.as_ref(), Some(&customer));
    let declined = h
        .http
        .post(format!(
            "{}/v1/payment_intents/{}/confirm",
            h.emulator.base_url(),
            intent.id
        ))
        .bearer_auth(KEY)
        .form(&[("payment_method", "pm_card_chargeDeclined")])
        .send()
        .await?;
    assert_eq!(declined.status(), 402);
    let after = h.client.payment_intent(&intent.id).await?;
    assert_eq!(after.status, "requires_payment_method");
    assert_eq!(after.last_error_code.as_deref(), Some("card_declined"));
    Ok(())
}

#[tokio::test]
async fn an_empty_idempotency_key_is_refused_before_anything_is_sent() -> Result<()> {
    let h = Harness::start().await?;
    let error = h
        .client
        .create_customer(&NewCustomer {
            user_id: UserId::new(),
            email: None,
            idempotency_key: String::new(),
            test_clock: None,
        })
        .await
        .expect_err("a create without a key could run twice");
    assert!(
        matches!(&error, StripeError::InvalidRequest { param: Some(p), .. } if p == "idempotency_key"),
        "{error:?}"
    );
    let customers = h.raw("/v1/customers").await?;
    assert_eq!(customers["data"].as_array().map(Vec::len), Some(0));
    Ok(())
}

/// A server that answers every request with a plain-text 404, as a wrong API base (a web
/// server, a proxy's default site) does; returns its base URL and how many requests it saw.
async fn not_stripe() -> Result<(String, std::sync::Arc<std::sync::atomic::AtomicUsize>)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buffer = [0u8; 4096];
            let _ = socket.read(&mut buffer).await;
            let body = "<html><body>Not Found</body></html>";
            let answer = format!(
                "HTTP/1.1 404 Not Found\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(answer.as_bytes()).await;
        }
    });
    Ok((base, seen))
}

/// Issue 24, finding 12: a 404 without Stripe's error body is a configuration error, at once,
/// not a temporary fault retried and reported as "unavailable".
#[tokio::test]
async fn a_wrong_api_base_is_a_configuration_error_without_retries() -> Result<()> {
    let (base, seen) = not_stripe().await?;
    let client = StripeClient::new(config(&base, "sk_test_anything"))?;
    let error = client
        .customer(&StripeCustomerId::parse("cus_any")?)
        .await
        .expect_err("not Stripe");
    match &error {
        StripeError::Misconfigured(detail) => {
            ensure!(detail.contains("api_base"), "{detail}");
            ensure!(detail.contains("404"), "{detail}");
        }
        other => anyhow::bail!("expected Misconfigured, got {other:?}"),
    }
    ensure!(
        seen.load(std::sync::atomic::Ordering::SeqCst) == 1,
        "asked once, not retried"
    );
    Ok(())
}
