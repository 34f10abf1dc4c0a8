//! The journeys of issue 6, each in its own server and browser.

use serde_json::json;
use tollgate_core::subscription::current;
use tollgate_core::{BillingStore, ConsoleStore, LedgerStore};
use tollgate_server::pages::format;

use crate::Journey;

#[tokio::test]
async fn a_member_who_pays_with_4242_sees_paid_on_the_dashboard() {
    let Some(j) = Journey::start().await else {
        return;
    };
    let b = &j.browser;
    b.goto(&j.url("/signup")).await;
    b.screenshot("signup").await;
    j.sign_up("ada@example.com").await;
    b.wait_for_text("#subscription-status", "Not subscribed yet", 5)
        .await;
    let banner = b.find(".test-banner").await.text().await;
    assert!(banner.contains("Test mode — emulated Stripe"), "{banner}");
    b.screenshot("dashboard-unpaid").await;

    j.subscribe_and_pay("4242 4242 4242 4242").await;
    b.screenshot("emulator-checkout").await;
    j.submit_payment().await;

    // Back on tollgate: the return page waits for Stripe's word, then shows it. The browser
    // may still be on its way from the emulator's page: wait for the address to change.
    let expected = j.url("/billing/return?session_id=cs_test_");
    let mut url = String::new();
    for _ in 0..150 {
        url = b.current_url().await;
        if url.starts_with(&expected) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(url.starts_with(&expected), "landed on {url}");
    b.wait_for_text("#return-status", "Stripe confirmed your payment", 30)
        .await;
    b.screenshot("checkout-return").await;

    b.goto(&j.url("/dashboard")).await;
    let user = j.user_id("ada@example.com").await;
    let subscriptions = j.app.store.subscriptions_of(user).await.expect("subs");
    let renews = format::date(
        current(&subscriptions)
            .expect("subscribed")
            .current_period_end,
    );
    let status = b.find("#subscription-status").await.text().await;
    assert_eq!(status, format!("Paid — renews {renews}"));
    let history = b.find("#invoices-heading").await;
    drop(history);
    assert!(
        b.source().await.contains("$49.00"),
        "the paid invoice is listed"
    );
    b.find_with_text("a", "View invoice").await;
    b.find_with_text("button", "Cancel at period end").await;
    b.screenshot("dashboard-paid").await;
    b.set_window(390, 844).await;
    b.screenshot("dashboard-paid-phone").await;
}

#[tokio::test]
async fn a_declined_card_shows_the_decline_and_the_member_stays_unpaid() {
    let Some(j) = Journey::start().await else {
        return;
    };
    let b = &j.browser;
    j.sign_up("declined@example.com").await;
    j.subscribe_and_pay("4000 0000 0000 0002").await;
    j.submit_payment().await;
    let decline = b.wait_for_text("[role=alert]", "declined", 10).await;
    assert!(decline.to_lowercase().contains("declined"), "{decline}");
    b.screenshot("emulator-declined").await;

    b.goto(&j.url("/dashboard")).await;
    b.wait_for_text("#subscription-status", "Not subscribed yet", 5)
        .await;
    let user = j.user_id("declined@example.com").await;
    let summary = j
        .app
        .running()
        .state
        .billing()
        .summary(user)
        .await
        .expect("summary");
    assert_eq!(summary.subscription_status.as_str(), "preapproved");
    b.find_with_text("button", "Subscribe $49/month").await;
}

#[tokio::test]
async fn an_admin_sees_the_paid_member_with_the_date_and_assigns_a_mentor() {
    let Some(j) = Journey::start().await else {
        return;
    };
    let b = &j.browser;
    j.paid_member("paid@example.com").await;
    j.make_admin("admin@example.com").await;
    j.log_in("admin@example.com").await;

    b.goto(&j.url("/admin")).await;
    b.wait_for_text("h1", "Overview", 5).await;
    let mrr = b.find(".stat .value").await.text().await;
    assert_eq!(mrr, "$49.00", "one member at $49/month");
    b.screenshot("admin-overview").await;

    b.goto(&j.url("/admin/members")).await;
    let row = b
        .find_with_text("#members tbody tr", "paid@example.com")
        .await;
    let text = row.text().await;
    let today = format::date(time::OffsetDateTime::now_utc());
    assert!(text.contains("Paid"), "{text}");
    assert!(
        text.contains(&today),
        "the payment date {today} is shown: {text}"
    );
    b.screenshot("admin-members").await;

    b.goto(&j.url("/admin/mentors")).await;
    b.find("#mentor-name").await.type_text("Grace Hopper").await;
    b.find_with_text("button", "Add mentor").await.click().await;
    b.wait_for_text("[role=status]", "Mentor added", 5).await;

    b.goto(&j.url("/admin/members")).await;
    b.find_with_text("#members a", "paid@example.com")
        .await
        .click()
        .await;
    b.wait_for_text("#member-status", "Paid", 5).await;
    let assign = b.find("#assign-mentor").await;
    assert_eq!(assign.property("disabled").await, json!(false));
    assign.click().await;
    b.wait_for_text("[role=status]", "Mentor assigned", 5).await;
    assert_eq!(b.find("#member-mentor").await.text().await, "Grace Hopper");
    b.screenshot("admin-member").await;

    b.goto(&j.url("/admin/audit")).await;
    b.find_with_text("td", "mentor.assign").await;
    b.screenshot("admin-audit").await;
}

#[tokio::test]
async fn assign_is_disabled_for_an_unpaid_member_and_a_forged_post_is_refused() {
    let Some(j) = Journey::start().await else {
        return;
    };
    let b = &j.browser;
    j.app.signup("unpaid@example.com").await;
    j.make_admin("admin@example.com").await;
    j.log_in("admin@example.com").await;
    b.goto(&j.url("/admin/mentors")).await;
    b.find("#mentor-name").await.type_text("Grace Hopper").await;
    b.find_with_text("button", "Add mentor").await.click().await;
    b.wait_for_text("[role=status]", "Mentor added", 5).await;

    let member = j.user_id("unpaid@example.com").await;
    b.goto(&j.url(&format!("/admin/members/{member}"))).await;
    b.wait_for_text("#member-status", "Not paid yet", 5).await;
    let assign = b.find("#assign-mentor").await;
    assert_eq!(assign.property("disabled").await, json!(true));
    b.wait_for_text("#assign-locked", "Unlocks once Stripe confirms", 5)
        .await;

    // The admin's own session and CSRF token, the form's fields, sent by hand.
    let answer = b
        .execute(
            "const form = document.querySelector('form[action$=\"/mentor\"]');\
             const select = form.querySelector('select');\
             const body = new URLSearchParams({ csrf_token: form.csrf_token.value,\
                 mentor_id: select.options[0].value });\
             return fetch(form.action, { method: 'POST', body, redirect: 'manual' })\
                 .then(async r => ({ status: r.status, body: await r.text() }));",
            json!([]),
        )
        .await;
    assert_eq!(answer["status"], 409, "{answer}");
    assert!(
        answer["body"]
            .as_str()
            .unwrap_or_default()
            .contains("payment_not_verified"),
        "the stable code is shown: {answer}"
    );
    let row = j
        .app
        .store
        .member(member)
        .await
        .expect("member")
        .expect("row");
    assert_eq!(row.mentor, None, "nothing was assigned");
}

#[tokio::test]
async fn cancelling_at_period_end_shows_the_end_date() {
    let Some(j) = Journey::start().await else {
        return;
    };
    let b = &j.browser;
    j.sign_up("leaving@example.com").await;
    j.subscribe_and_pay("4242424242424242").await;
    j.submit_payment().await;
    b.wait_for_text("#return-status", "Stripe confirmed your payment", 30)
        .await;
    b.goto(&j.url("/dashboard")).await;
    b.find_with_text("button", "Cancel at period end")
        .await
        .click()
        .await;
    b.wait_for_text("[role=status]", "end at the end of the paid period", 10)
        .await;
    let user = j.user_id("leaving@example.com").await;
    let subscriptions = j.app.store.subscriptions_of(user).await.expect("subs");
    let end = format::date(
        current(&subscriptions)
            .expect("subscribed")
            .current_period_end,
    );
    assert_eq!(
        b.find("#subscription-status").await.text().await,
        format!("Cancelled — access until {end}")
    );
    b.find_with_text("button", "Resume subscription").await;
    b.screenshot("dashboard-cancelling").await;
}

#[tokio::test]
async fn markup_in_names_and_emails_renders_as_text() {
    let Some(j) = Journey::start().await else {
        return;
    };
    let b = &j.browser;
    let email = "o'brien&co@example.com";
    j.sign_up(email).await;
    let shown = b.find(".who").await.text().await;
    assert_eq!(shown, email);

    let key_name = "<img src=x onerror=\"window.__pwned=1\">";
    b.goto(&j.url("/account/keys")).await;
    b.find("#key-name").await.type_text(key_name).await;
    b.find_with_text("button", "Create key").await.click().await;
    b.wait_for_text("#new-key-heading", key_name, 5).await;
    let secret = b.find("#new-key-secret").await.text().await;
    assert!(secret.starts_with("tg_test_"), "shown once: {secret}");
    b.goto(&j.url("/account/keys")).await;
    assert!(!b.source().await.contains(&secret), "never shown again");
    b.screenshot("api-keys").await;

    j.make_admin("admin@example.com").await;
    b.find_with_text("button", "Log out").await.click().await;
    b.wait_for_text("h1", "Log in", 10).await;
    j.log_in("admin@example.com").await;
    let mentor = "<script>window.__pwned=1</script>";
    b.goto(&j.url("/admin/mentors")).await;
    b.find("#mentor-name").await.type_text(mentor).await;
    b.find_with_text("button", "Add mentor").await.click().await;
    b.wait_for_text("[role=status]", "Mentor added", 5).await;
    b.find_with_text("td", mentor).await;
    b.goto(&j.url("/admin/members")).await;
    b.find_with_text("#members a", email).await;
    assert_eq!(
        b.execute("return typeof window.__pwned;", json!([])).await,
        json!("undefined"),
        "no markup ran"
    );
}

#[tokio::test]
async fn buying_credits_updates_the_balance_and_a_refund_from_the_console_updates_the_history() {
    let Some(j) = Journey::start().await else {
        return;
    };
    let b = &j.browser;
    j.sign_up("credits@example.com").await;
    b.wait_for_text("#credit-balance", "0 credits", 5).await;
    b.find_with_text("button", "Buy 1,000 credits")
        .await
        .click()
        .await;
    b.find("input[name=card_number]")
        .await
        .type_text("4242 4242 4242 4242")
        .await;
    b.find("input[name=name]").await.type_text("Ada").await;
    j.submit_payment().await;
    b.wait_for_text("h1", "Your billing", 10).await;
    // The balance moves only when Stripe's event has been applied: reload until it has.
    let mut balance = String::new();
    for _ in 0..60 {
        b.goto(&j.url("/dashboard")).await;
        balance = b.find("#credit-balance").await.text().await;
        if balance == "1000 credits" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert_eq!(balance, "1000 credits");
    let purchases = b.find("#credit-payments").await.text().await;
    assert!(purchases.contains("completed"), "{purchases}");
    b.screenshot("dashboard-credits").await;

    // The admin refunds $4 of it, through the confirmation step.
    let member = j.user_id("credits@example.com").await;
    j.make_admin("boss@example.com").await;
    b.find_with_text("button", "Log out").await.click().await;
    b.wait_for_text("h1", "Log in", 10).await;
    j.log_in("boss@example.com").await;
    b.goto(&j.url(&format!("/admin/members/{member}"))).await;
    b.find_with_text("a", "Refund…").await.click().await;
    b.wait_for_text("h1", "Refund a payment", 10).await;
    assert_eq!(b.find("#refund-remaining").await.text().await, "$10.00");
    b.screenshot("admin-refund-confirm").await;
    b.find("#refund-amount").await.type_text("400").await;
    b.find("#refund-reason")
        .await
        .type_text("asked nicely")
        .await;
    b.find("#confirm-refund").await.click().await;
    b.wait_for_text("[role=status]", "Refund issued", 10).await;
    let mut row = String::new();
    for _ in 0..60 {
        b.goto(&j.url(&format!("/admin/members/{member}"))).await;
        row = b.find("#member-payments").await.text().await;
        if row.contains("partially_refunded") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    assert!(
        row.contains("partially_refunded") && row.contains("$4.00"),
        "{row}"
    );
    assert_eq!(b.find("#member-credits").await.text().await, "600");
    b.screenshot("admin-member-refunded").await;
    let balance = j.app.store.balance(member).await.expect("balance");
    assert_eq!(balance.credits, 600);
}
