//! The binary as a person or a process manager runs it: help, exit codes, configuration
//! errors, migrations, admin accounts, and serve's logs (which must never show a secret).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;
use tollgate_store::testing::{TestDatabase, postgres_url};

#[path = "common/process.rs"]
mod process;
use process::terminate;

const BIN: &str = env!("CARGO_BIN_EXE_tollgate");

/// The binary in an empty directory with an empty environment, so nothing of the machine leaks in.
fn tollgate(dir: &Path, env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(BIN);
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

fn run(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    tollgate(dir, env)
        .args(args)
        .output()
        .expect("run tollgate")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn every_command_has_help_and_exits_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    for args in [
        vec!["--help"],
        vec!["serve", "--help"],
        vec!["migrate", "--help"],
        vec!["admin", "--help"],
        vec!["admin", "create", "--help"],
        vec!["admin", "list", "--help"],
        vec!["config", "check", "--help"],
        vec!["events", "list", "--help"],
        vec!["events", "replay", "--help"],
        vec!["ledger", "verify", "--help"],
        vec!["emulator", "--help"],
    ] {
        let output = run(dir.path(), &[], &args);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert!(text(&output.stdout).contains("Usage"), "{args:?}");
    }
}

#[test]
fn bad_usage_exits_two() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert_eq!(run(dir.path(), &[], &["frobnicate"]).status.code(), Some(2));
    assert_eq!(
        run(dir.path(), &[], &["serve", "--bind", "nowhere"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn configuration_errors_exit_non_zero_with_one_line_naming_the_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[("TOLLGATE_BIND", "not-an-address")],
            "server.bind (from TOLLGATE_BIND)",
        ),
        (
            &[("DATABASE_URL", "mysql://db/x")],
            "database.url (from DATABASE_URL)",
        ),
        (
            &[("STRIPE_WEBHOOK_SECRET", "nope")],
            "stripe.webhook_secrets (from STRIPE_WEBHOOK_SECRET)",
        ),
        (&[("TOLLGATE_JWT_ALGORITHM", "HS256")], "auth.jwt"),
    ];
    for (env, key) in cases {
        let output = run(dir.path(), env, &["config", "check"]);
        assert_eq!(output.status.code(), Some(2), "{env:?}");
        let stderr = text(&output.stderr);
        assert!(stderr.contains(key), "{env:?}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
    let file = dir.path().join("bad.toml");
    std::fs::write(&file, "[server]\nbody_limit_bytes = \"lots\"\n").expect("write");
    let output = run(
        dir.path(),
        &[],
        &["--config", file.to_str().expect("utf-8"), "config", "check"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("server.body_limit_bytes"));
    let output = run(
        dir.path(),
        &[],
        &["--config", "missing.toml", "config", "check"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("missing.toml"));
}

#[test]
fn config_check_prints_the_effective_configuration_with_secrets_redacted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = [
        ("STRIPE_SECRET_KEY", "sk_test_do_not_print_me"),
        ("STRIPE_WEBHOOK_SECRET", "whsec_do_not_print_me"),
        (
            "DATABASE_URL",
            "postgres://app:db_password_secret@db.internal:5432/tollgate",
        ),
        ("TOLLGATE_JWT_ALGORITHM", "HS256"),
        (
            "TOLLGATE_JWT_SECRET",
            "jwt-secret-do-not-print-me-0123456789",
        ),
        ("TOLLGATE_JWT_ISSUER", "https://id.example.com"),
        ("TOLLGATE_JWT_AUDIENCE", "tollgate"),
        ("PORT", "9999"),
    ];
    let output = run(dir.path(), &env, &["config", "check"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("bind = \"127.0.0.1:9999\""), "{stdout}");
    assert!(stdout.contains("[redacted]"));
    for secret in [
        "do_not_print_me",
        "db_password_secret",
        "jwt-secret-do-not-print-me",
    ] {
        assert!(!stdout.contains(secret), "{secret} printed:\n{stdout}");
    }
}

#[tokio::test]
async fn migrate_twice_is_a_no_op() {
    let dir = tempfile::tempdir().expect("tempdir");
    for database in TestDatabase::all().await {
        let env = [("DATABASE_URL", database.url.as_str())];
        let first = run(dir.path(), &env, &["migrate"]);
        assert_eq!(first.status.code(), Some(0), "{}", text(&first.stderr));
        assert!(
            text(&first.stdout).starts_with("applied migrations: [1, "),
            "{}",
            text(&first.stdout)
        );
        let second = run(dir.path(), &env, &["migrate"]);
        assert_eq!(second.status.code(), Some(0));
        assert_eq!(text(&second.stdout).trim(), "database is up to date");
    }
}

#[test]
fn the_default_database_is_a_sqlite_file_under_data_created_on_first_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = run(dir.path(), &[], &["migrate"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(dir.path().join("data/tollgate.db").is_file());
}

#[tokio::test]
async fn admin_create_takes_the_password_from_stdin_and_admin_list_shows_the_admin() {
    let dir = tempfile::tempdir().expect("tempdir");
    for database in TestDatabase::all().await {
        let env = [("DATABASE_URL", database.url.as_str())];
        let create = |email: &str, password: &str| {
            let mut child = tollgate(dir.path(), &env)
                .args(["admin", "create", "--email", email, "--password-stdin"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn");
            let written = child
                .stdin
                .take()
                .expect("stdin")
                .write_all(format!("{password}\n").as_bytes());
            // A bad email is refused before the password is read: the child may be gone.
            if let Err(e) = written {
                assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write: {e}");
            }
            child.wait_with_output().expect("wait")
        };
        let created = create("Boss@Example.com", "a long enough password");
        assert_eq!(created.status.code(), Some(0), "{}", text(&created.stderr));
        assert!(text(&created.stdout).contains("created admin boss@example.com"));
        assert_eq!(
            create("boss@example.com", "a long enough password")
                .status
                .code(),
            Some(1),
            "duplicate"
        );
        assert_eq!(
            create("other@example.com", "short").status.code(),
            Some(2),
            "weak password"
        );
        assert_eq!(
            create("not-an-email", "a long enough password")
                .status
                .code(),
            Some(2),
            "bad email"
        );
        let list = run(dir.path(), &env, &["admin", "list"]);
        assert_eq!(list.status.code(), Some(0));
        let listing = text(&list.stdout);
        assert!(listing.contains("boss@example.com"), "{listing}");
        assert!(!listing.contains("other@example.com"));
        let prompt = tollgate(dir.path(), &env)
            .args(["admin", "create", "--email", "x@example.com"])
            .stdin(Stdio::null())
            .output()
            .expect("run");
        assert_eq!(
            prompt.status.code(),
            Some(2),
            "no terminal and no --password-stdin"
        );
    }
}

/// Starts `serve` on port 0 and returns the child and its URL, read from its first line.
fn start_serve(
    dir: &Path,
    env: &[(&str, &str)],
    log: &Path,
) -> (
    std::process::Child,
    String,
    BufReader<std::process::ChildStdout>,
) {
    let mut child = tollgate(dir, env)
        .args(["serve", "--bind", "127.0.0.1:0", "--log-format", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(log).expect("log file")))
        .spawn()
        .expect("spawn serve");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("first line");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .to_string();
    (child, url, stdout)
}

#[tokio::test]
async fn serve_never_logs_a_secret_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stripe_key = "sk_test_stripe_key_never_logged";
    let webhook_secret = "whsec_webhook_secret_never_logged";
    let jwt_secret = "jwt_secret_never_logged_0123456789abcdef";
    let password = "password never logged";
    let wrong_password = "wrong password never logged";
    let database = match postgres_url() {
        // Trust authentication ignores the password, so a password can ride in the URL here.
        Some(url) => {
            TestDatabase::postgres(&url.replacen(
                "postgres://postgres@",
                "postgres://postgres:db_password_never_logged@",
                1,
            ))
            .await
        }
        None => TestDatabase::sqlite(),
    };
    let env = [
        ("STRIPE_SECRET_KEY", stripe_key),
        ("STRIPE_WEBHOOK_SECRET", webhook_secret),
        ("TOLLGATE_JWT_ALGORITHM", "HS256"),
        ("TOLLGATE_JWT_SECRET", jwt_secret),
        ("TOLLGATE_JWT_ISSUER", "https://id.example.com"),
        ("TOLLGATE_JWT_AUDIENCE", "tollgate"),
        ("DATABASE_URL", database.url.as_str()),
        ("RUST_LOG", "debug"),
    ];
    let log = dir.path().join("serve.log");
    let (mut child, url, mut stdout) = start_serve(dir.path(), &env, &log);

    let client = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    let signup = client
        .post(format!("{url}/api/v1/auth/signup"))
        .json(&json!({ "email": "logs@example.com", "password": password }))
        .send()
        .await
        .expect("signup");
    let cookie = signup.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_string();
    let session_token = cookie
        .split(';')
        .next()
        .expect("pair")
        .split('=')
        .nth(1)
        .expect("value")
        .to_string();
    let body: serde_json::Value = signup.json().await.expect("json");
    let csrf = body["csrf_token"].as_str().expect("csrf").to_string();
    let key: serde_json::Value = client
        .post(format!("{url}/api/v1/api-keys"))
        .header("x-csrf-token", &csrf)
        .json(&json!({ "name": "k" }))
        .send()
        .await
        .expect("key")
        .json()
        .await
        .expect("json");
    let api_key = key["key_secret"].as_str().expect("key").to_string();
    let plain = reqwest::Client::new();
    plain
        .get(format!("{url}/api/v1/me"))
        .bearer_auth(&api_key)
        .send()
        .await
        .expect("me");
    plain
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({ "email": "logs@example.com", "password": wrong_password }))
        .send()
        .await
        .expect("login");
    let jwt = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({ "sub": "u1", "iss": "https://id.example.com", "aud": "tollgate", "exp": 4_000_000_000u64 }),
        &jsonwebtoken::EncodingKey::from_secret(jwt_secret.as_bytes()),
    )
    .expect("sign");
    let me = plain
        .get(format!("{url}/api/v1/me"))
        .bearer_auth(&jwt)
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);

    let terminated = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(terminated.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "serve did not stop after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "graceful shutdown exits 0");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).expect("stdout");
    let logs = std::fs::read_to_string(&log).expect("log") + &rest;
    assert!(
        logs.contains("\"http.route\":\"/api/v1/auth/signup\""),
        "JSON request logs are there:\n{logs}"
    );
    let mut secrets = vec![
        stripe_key,
        webhook_secret,
        jwt_secret,
        password,
        wrong_password,
        &session_token,
        &csrf,
        &api_key,
        &jwt,
    ];
    secrets.push("db_password_never_logged");
    for secret in secrets {
        assert!(
            !logs.contains(secret),
            "a secret appeared in the logs: {secret}"
        );
    }
}

#[tokio::test]
async fn events_can_be_listed_and_replayed_from_the_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    for database in TestDatabase::all().await {
        let env = [("DATABASE_URL", database.url.as_str())];
        let list = run(dir.path(), &env, &["events", "list", "--status", "failed"]);
        assert_eq!(list.status.code(), Some(0), "{}", text(&list.stderr));
        assert_eq!(text(&list.stdout).trim(), "no events");
        assert_eq!(
            run(dir.path(), &env, &["events", "list", "--status", "bogus"])
                .status
                .code(),
            Some(2)
        );
        let failed = run(dir.path(), &env, &["events", "replay", "--failed"]);
        assert_eq!(failed.status.code(), Some(0));
        assert!(text(&failed.stdout).contains("queued 0 failed event(s)"));
        assert_eq!(
            run(dir.path(), &env, &["events", "replay", "evt_missing"])
                .status
                .code(),
            Some(1),
            "no such event"
        );
        assert_eq!(
            run(dir.path(), &env, &["events", "replay", "not-an-id"])
                .status
                .code(),
            Some(2)
        );
        assert_eq!(
            run(dir.path(), &env, &["events", "replay"]).status.code(),
            Some(2),
            "an id or --failed"
        );
    }
}

#[tokio::test]
async fn terminal_commands_work_beside_a_server_and_list_what_it_acknowledged_once_it_stops() {
    // The inbox journal is SQLite's: the serving process holds it, the commands must not wait
    // for it, and a clean stop folds it, so what the server acknowledged is in the database.
    let dir = tempfile::tempdir().expect("tempdir");
    let database = TestDatabase::sqlite();
    let secret = "whsec_terminal_beside_a_server";
    let env = [
        ("DATABASE_URL", database.url.as_str()),
        ("STRIPE_WEBHOOK_SECRET", secret),
        // Nothing folds the journal while the server runs: its worker is off.
        ("TOLLGATE_WORKER_ENABLED", "false"),
    ];
    let log = dir.path().join("serve.log");
    let (mut child, url, _stdout) = start_serve(dir.path(), &env, &log);
    let body = json!({
        "id": "evt_terminal_1",
        "object": "event",
        "type": "customer.updated",
        "created": 1_764_500_000,
        "livemode": false,
        "data": { "object": { "id": "cus_terminal", "object": "customer" } }
    })
    .to_string();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let delivered = reqwest::Client::new()
        .post(format!("{url}/api/v1/stripe/webhook"))
        .header("content-type", "application/json")
        .header(
            "stripe-signature",
            tollgate_server::notify::signature(secret, now, &body),
        )
        .body(body)
        .send()
        .await
        .expect("deliver");
    assert_eq!(delivered.status().as_u16(), 200);

    let mut create = tollgate(dir.path(), &env)
        .args([
            "admin",
            "create",
            "--email",
            "beside@example.com",
            "--password-stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    create
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"a long enough password\n")
        .expect("write");
    let created = create.wait_with_output().expect("wait");
    assert_eq!(created.status.code(), Some(0), "{}", text(&created.stderr));
    let beside = run(dir.path(), &env, &["events", "list"]);
    assert_eq!(beside.status.code(), Some(0), "{}", text(&beside.stderr));

    terminate(&mut child, "serve");
    // A clean stop folded the journal: the database alone holds the event.
    let plain = tollgate_store::SqlStore::connect(&database.url, 1)
        .await
        .expect("connect");
    let rows = tollgate_core::InboxStore::events(
        &plain,
        None,
        tollgate_core::store::Page {
            limit: 10,
            before: None,
        },
    )
    .await
    .expect("events");
    assert!(
        rows.iter().any(|e| e.id.as_str() == "evt_terminal_1"),
        "{rows:?}"
    );
    plain.close().await;
    let after = run(dir.path(), &env, &["events", "list"]);
    assert_eq!(after.status.code(), Some(0), "{}", text(&after.stderr));
    assert!(
        text(&after.stdout).contains("evt_terminal_1"),
        "{}",
        text(&after.stdout)
    );
}

#[tokio::test]
async fn ledger_verify_passes_a_whole_ledger_and_fails_naming_a_tampered_balance() {
    let dir = tempfile::tempdir().expect("tempdir");
    for database in TestDatabase::all().await {
        let env = [("DATABASE_URL", database.url.as_str())];
        assert_eq!(run(dir.path(), &env, &["migrate"]).status.code(), Some(0));
        let whole = run(dir.path(), &env, &["ledger", "verify"]);
        assert_eq!(whole.status.code(), Some(0), "{}", text(&whole.stderr));
        assert!(text(&whole.stdout).contains("ledger ok"));

        // A balance edited by hand, with no entry behind it.
        let user = "00000000-0000-4000-8000-000000000001";
        sqlx::any::install_default_drivers();
        let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&database.url)
            .await
            .expect("connect");
        for sql in [
            format!(
                "INSERT INTO users (id, email, role, created_at, updated_at) VALUES ('{user}', 'x@example.com', 'user', 0, 0)"
            ),
            format!(
                "INSERT INTO credit_balances (user_id, balance, updated_at) VALUES ('{user}', 5, 0)"
            ),
        ] {
            sqlx::query(&sql).execute(&mut conn).await.expect("tamper");
        }
        sqlx::Connection::close(conn).await.ok();
        let broken = run(dir.path(), &env, &["ledger", "verify"]);
        assert_eq!(broken.status.code(), Some(1));
        assert!(
            text(&broken.stdout).contains(&format!(
                "MISMATCH  user {user}  cached 5  sum of entries 0"
            )),
            "{}",
            text(&broken.stdout)
        );
    }
}

#[tokio::test]
async fn the_emulator_serves_stripe_on_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = tollgate(dir.path(), &[])
        .args(["emulator", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("first line");
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("a URL")
        .to_string();
    let customer: serde_json::Value = reqwest::Client::new()
        .post(format!("{url}/v1/customers"))
        .bearer_auth("sk_test_cli")
        .form(&[("email", "a@example.com")])
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    assert!(
        customer["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("cus_")),
        "{customer}"
    );
    terminate(&mut child, "the emulator");
}
