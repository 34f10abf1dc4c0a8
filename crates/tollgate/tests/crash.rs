//! SIGKILL at random moments. A `tollgate serve` child, in real-Stripe mode against a Stripe
//! emulator that lives in this test process (so it is never killed and keeps redelivering what
//! was not acknowledged), is killed and restarted while members pay credit checkouts, its worker
//! drains the webhooks, and an admin's refunds are in flight. The same scenario is also run
//! without kills; afterwards both must agree: every balance, payment and refund equal, every
//! event the emulator saw acknowledged stored in the inbox, `tollgate ledger verify` passing,
//! and Stripe holding one customer per member and one refund per refund asked.
//!
//! Size and seed: `TOLLGATE_CRASH_MEMBERS` (default 10), `TOLLGATE_CRASH_KILLS` (default 8),
//! `TOLLGATE_CRASH_SEED` (default 1). The longer run documented in the README:
//! `TOLLGATE_CRASH_MEMBERS=60 TOLLGATE_CRASH_KILLS=60 cargo test -p tollgate --test crash`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tollgate_store::testing::{TestDatabase, postgres_url};

#[path = "common/process.rs"]
mod process;
#[path = "../../tollgate_server/tests/common/real_stripe.rs"]
mod real_stripe;

const BIN: &str = env!("CARGO_BIN_EXE_tollgate");
const SECRET: &str = "whsec_crash_test_endpoint_secret";
const PASSWORD: &str = "a long enough password";
const ADMIN: &str = "crash-admin@example.com";
/// Every third member's payment is partly refunded: 300 of its 1,000 minor units.
const REFUND_EVERY: usize = 3;
const REFUND_AMOUNT: i64 = 300;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A small seeded generator (xorshift64*): the same seed gives the same kill moments.
struct Rng(u64);

impl Rng {
    fn between(&mut self, low: u64, high: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        low + self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % (high - low)
    }
}

/// The tollgate child: always on the same port, since the emulator's endpoint names it.
struct Server {
    dir: PathBuf,
    env: Vec<(String, String)>,
    port: u16,
    log: PathBuf,
    child: Option<Child>,
    starts: usize,
}

impl Server {
    fn command(&self) -> Command {
        let mut command = Command::new(BIN);
        command
            .current_dir(&self.dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        command
    }

    fn start(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let child = self
            .command()
            .args(["serve", "--bind", &format!("127.0.0.1:{}", self.port)])
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn serve");
        self.child = Some(child);
        self.starts += 1;
    }

    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().expect("SIGKILL");
            child.wait().expect("reap");
        }
    }

    fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            process::terminate(&mut child, "serve");
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn client() -> Client {
    Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client")
}

/// Sends until tollgate answers (it may be dead or starting); returns the first answer that
/// is not a connection failure or a 503 of a starting server.
async fn answered(request: impl Fn() -> reqwest::RequestBuilder, what: &str) -> reqwest::Response {
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        match request().send().await {
            Ok(response) if response.status() != StatusCode::SERVICE_UNAVAILABLE => {
                return response;
            }
            _ => {}
        }
        assert!(Instant::now() < deadline, "{what}: tollgate never answered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

struct Member {
    client: Client,
    checkout_url: String,
    payment_id: String,
}

/// What a run leaves behind, compared between the clean run and the killed one.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    /// Per member, in order: (credits, payment status, refunded amount).
    members: Vec<(i64, String, i64)>,
    ledger_entries: i64,
    refunds: Vec<(i64, String)>,
    stripe_customers: usize,
    stripe_refunds: usize,
}

/// One run: how many members pay, how many SIGKILLs, the seed of their moments, and how many
/// instances share the database (more than one: behind a loopback balancer, and the last
/// kill leaves its instance dead, so the others must finish what it had claimed).
#[derive(Clone, Copy)]
struct Plan {
    members: usize,
    kills: usize,
    seed: u64,
    instances: usize,
}

async fn run_scenario(database: &TestDatabase, plan: Plan) -> Outcome {
    let Plan {
        members,
        kills,
        seed,
        instances,
    } = plan;
    let dir = tempfile::tempdir().expect("tempdir");
    let ports: Vec<u16> = (0..instances).map(|_| free_port()).collect();
    let port = if instances == 1 {
        ports[0]
    } else {
        balance(ports.clone()).await
    };
    let emulator = stripe_emulator::start(stripe_emulator::EmulatorConfig {
        webhook_endpoints: vec![stripe_emulator::WebhookEndpointConfig {
            url: format!("http://127.0.0.1:{port}/api/v1/stripe/webhook"),
            secret: SECRET.to_string(),
            enabled_events: vec!["*".to_string()],
            ..Default::default()
        }],
        seed: Some(seed),
        delivery: stripe_emulator::DeliveryConfig {
            max_attempts: 60,
            first_retry: Duration::from_millis(100),
            timeout: Duration::from_secs(5),
        },
        ..Default::default()
    })
    .await
    .expect("emulator");
    // Real-Stripe mode finds its plan's price by lookup key: the platform made it beforehand.
    real_stripe::create_membership_price(emulator.base_url(), "sk_test_crash", 1000).await;
    let env: Vec<(String, String)> = [
        ("DATABASE_URL", database.url.as_str()),
        ("STRIPE_SECRET_KEY", "sk_test_crash"),
        ("STRIPE_WEBHOOK_SECRET", SECRET),
        ("TOLLGATE_STRIPE_API_BASE", emulator.base_url()),
        ("TOLLGATE_WORKER_UNSENT_REFUND_AFTER_SECONDS", "1"),
        // A killed instance's claims come back quickly.
        ("TOLLGATE_WORKER_LEASE_SECONDS", "2"),
        ("TOLLGATE_BASE_URL", &format!("http://127.0.0.1:{port}")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    // Every member signs up from this one address.
    std::fs::write(
        dir.path().join("tollgate.toml"),
        "[auth.rate_limit]\nsignup_per_ip_per_hour = 100000\n",
    )
    .expect("config");
    let mut servers: Vec<Server> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| Server {
            dir: dir.path().to_path_buf(),
            env: env.clone(),
            port: *port,
            log: dir.path().join(format!("serve-{i}.log")),
            child: None,
            starts: 0,
        })
        .collect();
    let mut create = servers[0]
        .command()
        .args(["admin", "create", "--email", ADMIN, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("admin create");
    writeln!(create.stdin.take().expect("stdin"), "{PASSWORD}").expect("password");
    assert!(create.wait().expect("admin create").success());
    // All at once: on PostgreSQL their migrations take the advisory lock in turn.
    for server in &mut servers {
        server.start();
    }
    for server in &servers {
        let ready = answered(|| Client::new().get(server.url("/readyz")), "readyz").await;
        assert_eq!(
            ready.status(),
            StatusCode::OK,
            "instance on {}",
            server.port
        );
    }
    let front = |path: &str| format!("http://127.0.0.1:{port}{path}");

    // The members and their checkouts exist before the kills start: a checkout interrupted
    // without an answer is the client's to retry, and would make the two runs differ.
    let mut people = Vec::new();
    for i in 0..members {
        let client = client();
        let signed_up: Value = answered(
            || {
                client.post(front("/api/v1/auth/signup")).json(
                    &json!({ "email": format!("member{i}@example.com"), "password": PASSWORD }),
                )
            },
            "signup",
        )
        .await
        .json()
        .await
        .expect("signup json");
        let csrf = signed_up["csrf_token"].as_str().expect("csrf").to_string();
        let started: Value = client
            .post(front("/api/v1/checkout/credits"))
            .header("x-csrf-token", &csrf)
            .json(&json!({ "package": "credits_1000" }))
            .send()
            .await
            .expect("checkout")
            .json()
            .await
            .expect("checkout json");
        people.push(Member {
            client,
            checkout_url: started["url"].as_str().expect("url").to_string(),
            payment_id: started["payment_id"].as_str().expect("payment").to_string(),
        });
    }
    let admin = client();
    let logged_in: Value = admin
        .post(front("/api/v1/auth/login"))
        .json(&json!({ "email": ADMIN, "password": PASSWORD }))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("login json");
    let admin_csrf = logged_in["csrf_token"].as_str().expect("csrf").to_string();

    let servers = Arc::new(Mutex::new(servers));
    let work_done = Arc::new(AtomicBool::new(false));
    let killed = Arc::new(AtomicUsize::new(0));
    let killer = {
        let (servers, work_done, killed) = (servers.clone(), work_done.clone(), killed.clone());
        std::thread::spawn(move || {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
            while killed.load(Ordering::SeqCst) < kills || !work_done.load(Ordering::SeqCst) {
                if killed.load(Ordering::SeqCst) >= kills {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
                std::thread::sleep(Duration::from_millis(rng.between(150, 900)));
                let mut servers = servers.lock().expect("servers");
                let victim = rng.between(0, servers.len() as u64) as usize;
                servers[victim].kill();
                let n = killed.fetch_add(1, Ordering::SeqCst) + 1;
                let last_of_several = servers.len() > 1 && n == kills;
                if !last_of_several {
                    servers[victim].start();
                }
            }
        })
    };

    let url_of = front;
    let payer = async {
        let mut rng = Rng(seed | 1);
        for member in &people {
            let paid = client()
                .post(&member.checkout_url)
                .form(&[
                    ("action", "pay"),
                    ("card_number", "4242424242424242"),
                    ("email", "payer@example.com"),
                    ("name", "Test Payer"),
                ])
                .send()
                .await
                .expect("pay at the emulator");
            assert_eq!(paid.status(), StatusCode::SEE_OTHER, "payment accepted");
            tokio::time::sleep(Duration::from_millis(rng.between(50, 400))).await;
        }
    };
    let refunder = async {
        for member in people.iter().step_by(REFUND_EVERY) {
            let payment_path = format!("/api/v1/payments/{}", member.payment_id);
            loop {
                let payment: Value =
                    match answered(|| member.client.get(url_of(&payment_path)), "payment")
                        .await
                        .json()
                        .await
                    {
                        Ok(payment) => payment,
                        Err(_) => continue,
                    };
                if payment["status"] == "completed" {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            // Sent until it is admitted: an answer, or (killed before answering) a refund row
            // that the server wrote before asking Stripe, which its worker finishes.
            loop {
                let sent = admin
                    .post(url_of("/api/v1/admin/refunds"))
                    .header("x-csrf-token", &admin_csrf)
                    .json(&json!({ "payment_id": member.payment_id, "amount": REFUND_AMOUNT }))
                    .send()
                    .await;
                if let Ok(response) = &sent
                    && response.status() == StatusCode::CREATED
                {
                    break;
                }
                if refund_rows(database, &member.payment_id).await > 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    tokio::join!(payer, refunder);
    work_done.store(true, Ordering::SeqCst);
    killer.join().expect("killer");
    assert!(killed.load(Ordering::SeqCst) >= kills);

    // Quiet: wait until every payment is settled and every refund has reached Stripe.
    let refunded: BTreeSet<usize> = (0..members).step_by(REFUND_EVERY).collect();
    let mut states = Vec::new();
    for (i, member) in people.iter().enumerate() {
        let want_refund = if refunded.contains(&i) {
            REFUND_AMOUNT
        } else {
            0
        };
        let path = format!("/api/v1/payments/{}", member.payment_id);
        let deadline = Instant::now() + Duration::from_secs(90);
        let payment = loop {
            let payment: Value = answered(|| member.client.get(url_of(&path)), "payment")
                .await
                .json()
                .await
                .unwrap_or(Value::Null);
            let settled = payment["status"] == "completed"
                || payment["status"] == "partially_refunded"
                || payment["status"] == "refunded";
            if settled && payment["refunded_amount"] == want_refund {
                break payment;
            }
            assert!(
                Instant::now() < deadline,
                "member {i}'s payment never settled: {payment}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let balance: Value = answered(|| member.client.get(url_of("/api/v1/balance")), "balance")
            .await
            .json()
            .await
            .expect("balance");
        states.push((
            balance["credits"].as_i64().expect("credits"),
            payment["status"].as_str().expect("status").to_string(),
            payment["refunded_amount"].as_i64().expect("refunded"),
        ));
    }
    // Deliveries still in the emulator's queue finish before the inbox is read, and every
    // stored event is worked off (a killed instance's claims expire and are taken over).
    let acknowledged = quiet_deliveries(&emulator).await;
    for status in ["received", "failed"] {
        let path = format!("/api/v1/admin/events?status={status}&limit=100");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let list: Value = answered(|| admin.get(url_of(&path)), "events")
                .await
                .json()
                .await
                .unwrap_or(Value::Null);
            if list["data"].as_array().is_some_and(Vec::is_empty) {
                break;
            }
            assert!(Instant::now() < deadline, "events left {status}: {list}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let mut servers = Arc::try_unwrap(servers)
        .ok()
        .expect("one owner")
        .into_inner()
        .expect("servers");
    for server in &mut servers {
        server.terminate();
    }

    let stored = stored_events(database).await;
    let missing: Vec<&String> = acknowledged.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not stored: {missing:?}"
    );
    let verify = servers[0]
        .command()
        .args(["ledger", "verify"])
        .output()
        .expect("ledger verify");
    assert!(
        verify.status.success(),
        "ledger verify: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    for server in &servers {
        let log = std::fs::read_to_string(&server.log).unwrap_or_default();
        for secret in [SECRET, "sk_test_crash", PASSWORD] {
            assert!(!log.contains(secret), "the log shows a secret");
        }
    }
    let outcome = Outcome {
        members: states,
        ledger_entries: ledger_entries(database).await,
        refunds: refunds(database).await,
        stripe_customers: stripe_count(&emulator, "/v1/customers").await,
        stripe_refunds: stripe_count(&emulator, "/v1/refunds").await,
    };
    eprintln!(
        "crash run: {members} members, {instances} instances, {} kills, {} starts, {} events acknowledged",
        killed.load(Ordering::SeqCst),
        servers.iter().map(|s| s.starts).sum::<usize>(),
        acknowledged.len()
    );
    emulator.shutdown().await;
    outcome
}

/// Waits until no delivery is still being retried; returns the events that got a 2xx.
async fn quiet_deliveries(emulator: &stripe_emulator::RunningEmulator) -> BTreeSet<String> {
    let http = Client::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let list: Value = http
            .get(format!("{}/_emulator/deliveries", emulator.base_url()))
            .send()
            .await
            .expect("deliveries")
            .json()
            .await
            .expect("json");
        let mut last: BTreeMap<String, bool> = BTreeMap::new();
        for delivery in list["data"].as_array().expect("list") {
            let ok = delivery["status"]
                .as_u64()
                .is_some_and(|s| (200..300).contains(&s));
            let seen = last
                .entry(delivery["event_id"].as_str().expect("event").to_string())
                .or_default();
            *seen |= ok;
        }
        if last.values().all(|ok| *ok) {
            return last.into_keys().collect();
        }
        assert!(Instant::now() < deadline, "deliveries never all succeeded");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn stripe_count(emulator: &stripe_emulator::RunningEmulator, path: &str) -> usize {
    let list: Value = Client::new()
        .get(format!("{}{path}?limit=100", emulator.base_url()))
        .bearer_auth("sk_test_crash")
        .send()
        .await
        .expect("list at Stripe")
        .json()
        .await
        .expect("json");
    list["data"].as_array().expect("data").len()
}

async fn pool(database: &TestDatabase) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::AnyPool::connect(&database.url)
        .await
        .expect("connect")
}

async fn refund_rows(database: &TestDatabase, payment: &str) -> i64 {
    let pool = pool(database).await;
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM refunds WHERE payment_id = $1")
        .bind(payment)
        .fetch_one(&pool)
        .await
        .expect("count refunds");
    pool.close().await;
    n
}

async fn stored_events(database: &TestDatabase) -> BTreeSet<String> {
    let pool = pool(database).await;
    let rows: Vec<(String,)> = sqlx::query_as("SELECT id FROM stripe_events")
        .fetch_all(&pool)
        .await
        .expect("inbox");
    pool.close().await;
    rows.into_iter().map(|(id,)| id).collect()
}

async fn ledger_entries(database: &TestDatabase) -> i64 {
    let pool = pool(database).await;
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM ledger_entries")
        .fetch_one(&pool)
        .await
        .expect("ledger");
    pool.close().await;
    n
}

async fn refunds(database: &TestDatabase) -> Vec<(i64, String)> {
    let pool = pool(database).await;
    let mut rows: Vec<(i64, String)> = sqlx::query_as("SELECT amount, status FROM refunds")
        .fetch_all(&pool)
        .await
        .expect("refunds");
    pool.close().await;
    rows.sort();
    rows
}

async fn crash_matches_a_clean_run(clean: TestDatabase, crashed: TestDatabase, instances: usize) {
    let members = setting("TOLLGATE_CRASH_MEMBERS", 10) as usize;
    let kills = setting("TOLLGATE_CRASH_KILLS", 8) as usize;
    let seed = setting("TOLLGATE_CRASH_SEED", 1);
    let plan = Plan {
        members,
        kills: 0,
        seed,
        instances: 1,
    };
    let expected = run_scenario(&clean, plan).await;
    assert_eq!(expected.stripe_customers, members, "{expected:?}");
    assert_eq!(
        expected.stripe_refunds,
        members.div_ceil(REFUND_EVERY),
        "{expected:?}"
    );
    let survived = run_scenario(
        &crashed,
        Plan {
            kills,
            instances,
            ..plan
        },
    )
    .await;
    assert_eq!(
        survived, expected,
        "seed {seed}: the killed run differs from the clean one"
    );
}

#[tokio::test]
async fn sigkill_under_webhook_load_and_refunds_on_sqlite_loses_and_repeats_nothing() {
    crash_matches_a_clean_run(TestDatabase::sqlite(), TestDatabase::sqlite(), 1).await;
}

/// The same on PostgreSQL, with `instances` sharing the database; skipped without one.
async fn on_postgres(instances: usize) {
    let Some(url) = postgres_url() else {
        eprintln!("skipped: TOLLGATE_TEST_POSTGRES_URL is not set");
        return;
    };
    crash_matches_a_clean_run(
        TestDatabase::postgres(&url).await,
        TestDatabase::postgres(&url).await,
        instances,
    )
    .await;
}

#[tokio::test]
async fn sigkill_under_webhook_load_and_refunds_on_postgres_loses_and_repeats_nothing() {
    on_postgres(1).await;
}

/// Three instances on one PostgreSQL behind a balancer, started together (migrations once),
/// SIGKILLed in turn under load; the last kill leaves one dead and the other two finish its
/// claimed work. The outcome must equal one clean instance's.
#[tokio::test]
async fn three_instances_on_one_postgres_share_the_work_and_survive_a_dead_one() {
    on_postgres(3).await;
}

/// A loopback balancer: each connection goes to the next instance that accepts it, so a dead
/// instance is skipped. Returns its port.
async fn balance(ports: Vec<u16>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the balancer");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        let mut next = 0;
        loop {
            let Ok((mut inbound, _)) = listener.accept().await else {
                continue;
            };
            let mut upstream = None;
            for _ in 0..ports.len() {
                next = (next + 1) % ports.len();
                if let Ok(stream) = tokio::net::TcpStream::connect(("127.0.0.1", ports[next])).await
                {
                    upstream = Some(stream);
                    break;
                }
            }
            if let Some(mut upstream) = upstream {
                tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut upstream).await;
                });
            }
        }
    });
    port
}
