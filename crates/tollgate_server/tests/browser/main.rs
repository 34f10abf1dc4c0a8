//! The pages in a real browser: Debian's headless Chromium driven over WebDriver against the
//! real server and its in-process Stripe emulator, whose hosted checkout page is filled in
//! like a person would. Screenshots of the main pages land in `target/screenshots/`.
//!
//! Each test runs on the last configured database (PostgreSQL when
//! TOLLGATE_TEST_POSTGRES_URL is set, SQLite otherwise), so CI's two runs cover both.

#[allow(dead_code)]
#[path = "../api/support.rs"]
mod app;
mod journeys;
mod webdriver;

use std::sync::OnceLock;

use tokio::sync::{Semaphore, SemaphorePermit};
use tollgate_core::AccountStore;
use tollgate_store::testing::TestDatabase;

use app::{PASSWORD, TestApp};
use webdriver::Browser;

/// Two browsers at a time: each Chromium is heavy and CI machines are small.
fn browsers() -> &'static Semaphore {
    static BROWSERS: OnceLock<Semaphore> = OnceLock::new();
    BROWSERS.get_or_init(|| Semaphore::new(2))
}

pub struct Journey {
    pub app: TestApp,
    pub browser: Browser,
    _permit: SemaphorePermit<'static>,
}

impl Journey {
    /// A server with the emulator and a browser; `None` (skipped) only without Chromium
    /// outside CI.
    pub async fn start() -> Option<Self> {
        if !webdriver::available() {
            return None;
        }
        let permit = browsers().acquire().await.expect("semaphore");
        let database = TestDatabase::all().await.pop().expect("a database");
        let app = TestApp::spawn(database, |_| {}).await;
        let browser = Browser::launch().await;
        Some(Self {
            app,
            browser,
            _permit: permit,
        })
    }

    pub fn url(&self, path: &str) -> String {
        self.app.url(path)
    }

    /// Signs up through the form and lands on the dashboard.
    pub async fn sign_up(&self, email: &str) {
        let b = &self.browser;
        b.goto(&self.url("/signup")).await;
        b.find("#email").await.type_text(email).await;
        b.find("#password").await.type_text(PASSWORD).await;
        b.find("button[type=submit].primary").await.click().await;
        b.wait_for_text("h1", "Your billing", 10).await;
    }

    /// Logs in through the form.
    pub async fn log_in(&self, email: &str) {
        let b = &self.browser;
        b.goto(&self.url("/login")).await;
        b.find("#email").await.type_text(email).await;
        b.find("#password").await.type_text(PASSWORD).await;
        b.find("button[type=submit].primary").await.click().await;
        b.wait_for_text("h1", "Your billing", 10).await;
    }

    /// From the dashboard: Subscribe, then the card on the emulator's hosted checkout page.
    pub async fn subscribe_and_pay(&self, card: &str) {
        let b = &self.browser;
        b.find_with_text("button", "Subscribe $49/month")
            .await
            .click()
            .await;
        b.find("input[name=card_number]")
            .await
            .type_text(card)
            .await;
        assert!(
            b.current_url()
                .await
                .starts_with(self.app.running().emulator_url().expect("emulated")),
            "Subscribe leads to the emulator's hosted checkout"
        );
        b.find("input[name=name]")
            .await
            .type_text("Ada Lovelace")
            .await;
    }

    pub async fn submit_payment(&self) {
        self.browser.find("button[value=pay]").await.click().await;
    }

    pub async fn user_id(&self, email: &str) -> tollgate_core::UserId {
        let email = tollgate_core::Email::parse(email).expect("email");
        self.app
            .store
            .credentials_by_email(&email)
            .await
            .expect("lookup")
            .expect("the user exists")
            .0
            .id
    }

    /// Creates an admin account directly (as `tollgate admin create` does).
    pub async fn make_admin(&self, email: &str) {
        tollgate_core::account::register(
            &self.app.store,
            &tollgate_core::SystemClock,
            &self.app.running().state.policy,
            &tollgate_core::password::InPlace,
            tollgate_core::account::Registration {
                email: tollgate_core::Email::parse(email).expect("email"),
                password: tollgate_core::Secret::new(PASSWORD.to_string()),
                role: tollgate_core::account::Role::Admin,
                actor: None,
                signup: tollgate_core::account::Signup::default(),
            },
        )
        .await
        .expect("admin");
    }

    /// A member who paid with 4242 through the API and the emulator's form (not the browser).
    pub async fn paid_member(&self, email: &str) {
        let (client, csrf) = self.app.signup(email).await;
        let (_, url) = self.app.start_checkout(&client, &csrf).await;
        let paid = self.app.pay(&url, "4242424242424242").await;
        assert_eq!(paid.status(), reqwest::StatusCode::SEE_OTHER);
        self.app.wait_for_status(&client, "paid").await;
    }
}
