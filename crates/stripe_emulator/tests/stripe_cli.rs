//! The official Stripe CLI (`@stripe/cli` from npm, whose platform package carries the binary) runs
//! `stripe trigger <event> --api-base <emulator>` for the events the emulator emits. The test provisions the CLI
//! itself, once per target directory, into `<target>/test-deps/node-stripe-cli-<version>`.
//!
//! The CLI asks GitHub for a newer version at every start. So that this cannot hang or reach the internet, the
//! triggers run in a network namespace that has only loopback (`unshare -rn`, then `ip link set lo up`): the
//! test re-runs this test binary there, where the ignored test below starts the emulator and runs the CLI.
//! Where no such namespace can be made, the triggers run here with the CLI's update check still failing fast,
//! since its HTTPS proxy is a closed loopback port.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::Emu;

/// The Stripe CLI release the fixtures below are checked against.
const STRIPE_CLI: &str = "1.52.0";

/// Set in the namespace, so that the inner test knows it is the one asked for.
const IN_NAMESPACE: &str = "STRIPE_EMULATOR_CLI_NAMESPACE";

/// The CLI's fixtures that work against the emulator; each must succeed and emit its event. The fixtures the
/// emulator cannot run yet are listed in the README's Tests section, with why.
const TRIGGERS: &[&str] = &[
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "payment_intent.created",
    "payment_intent.succeeded",
    "payment_intent.canceled",
    "payment_intent.payment_failed",
    "payment_intent.requires_action",
    "charge.succeeded",
    "charge.failed",
    "charge.refunded",
    "checkout.session.completed",
    "checkout.session.expired",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.created",
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice.updated",
    "invoice.voided",
    "invoice.marked_uncollectible",
    "invoice.sent",
    "invoice.deleted",
    "invoiceitem.created",
    "invoiceitem.deleted",
    "payment_method.attached",
    "payment_method.detached",
    "price.created",
    "price.updated",
    "product.created",
    "product.updated",
    "product.deleted",
    "coupon.created",
    "coupon.deleted",
    "promotion_code.created",
    "promotion_code.updated",
    "setup_intent.created",
    "setup_intent.succeeded",
    "setup_intent.canceled",
    "setup_intent.setup_failed",
    "account.updated",
    "test_helpers.test_clock.created",
    "test_helpers.test_clock.ready",
    "test_helpers.test_clock.deleted",
];

/// The provisioned `stripe` (the npm shim, which runs the platform package's binary); `None` (after a printed
/// notice) when npm is missing outside CI.
fn stripe_cli() -> Option<&'static PathBuf> {
    static PATH: OnceLock<Option<PathBuf>> = OnceLock::new();
    PATH.get_or_init(|| {
        common::npm::available("the Stripe CLI").then(|| {
            let prefix = common::npm::install("@stripe/cli", STRIPE_CLI);
            prefix.join("node_modules").join(".bin").join("stripe")
        })
    })
    .as_ref()
}

/// Runs `cli` with `args`, a home of its own and a deadline; returns whether it exited 0, and what it printed.
fn run(cli: &Path, home: &Path, args: &[&str]) -> (bool, String) {
    let mut child = Command::new(cli)
        .args(args)
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("STRIPE_CLI_TELEMETRY_OPTOUT", "1")
        .env("HTTPS_PROXY", "http://127.0.0.1:9")
        .env("https_proxy", "http://127.0.0.1:9")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env_remove("STRIPE_API_KEY")
        .env_remove("STRIPE_DEVICE_NAME")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the Stripe CLI starts");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the CLI") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().expect("the CLI's output");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    match status {
        Some(s) => (s.success(), text),
        None => (false, format!("timed out after 60 s\n{text}")),
    }
}

/// Triggers every fixture in `TRIGGERS` against a fresh emulator each; returns the failures, described.
async fn trigger_all(cli: &'static Path) -> Vec<String> {
    let home = common::npm::target_dir()
        .join("test-deps")
        .join(format!("stripe-cli-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).expect("the CLI's home");
    let mut failures = Vec::new();
    for event in TRIGGERS {
        let emu = Emu::start().await;
        let base = emu.running.base_url().to_owned();
        let home = home.clone();
        let (ok, output) = tokio::task::spawn_blocking(move || {
            run(
                cli,
                &home,
                &[
                    "trigger",
                    event,
                    "--api-base",
                    &base,
                    "--api-key",
                    "sk_test_stripe_cli_emulator",
                ],
            )
        })
        .await
        .expect("join");
        let mut emitted = emu.event_types().await;
        // Events of connected accounts (`account.updated`, …) are listed under their account.
        let accounts = emu.fetch("/v1/accounts?limit=100").await;
        for account in accounts["data"].as_array().into_iter().flatten() {
            let id = account["id"].as_str().unwrap_or_default();
            let (_, page) = emu.get_as(id, "/v1/events?limit=100").await;
            emitted.extend(
                page["data"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e["type"].as_str().map(str::to_owned)),
            );
        }
        if !ok || !output.contains("Trigger succeeded") {
            failures.push(format!("{event}: the CLI failed:\n{output}"));
        } else if !emitted.iter().any(|t| t == event) {
            failures.push(format!(
                "{event}: not emitted (emitted {emitted:?}):\n{output}"
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&home);
    failures
}

/// Brings up loopback in a fresh network namespace and re-runs this binary's ignored test there; `None` when
/// this machine cannot make such a namespace (no `unshare`, no `ip`, or user namespaces not allowed).
fn in_loopback_namespace() -> Option<(bool, String)> {
    let probe = Command::new("unshare")
        .args(["-rn", "ip", "link", "set", "lo", "up"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        return None;
    }
    let exe = std::env::current_exe().expect("the test binary has a path");
    let out = Command::new("unshare")
        .args(["-rn", "sh", "-c", r#"ip link set lo up && exec "$0" "$@""#])
        .arg(exe)
        .args([
            "--exact",
            "triggers_run_against_an_emulator_in_this_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(IN_NAMESPACE, "1")
        .output()
        .expect("unshare runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let ran_inside =
        text.contains("in a loopback-only network namespace") && text.contains("1 passed");
    Some((out.status.success() && ran_inside, text))
}

#[tokio::test]
async fn stripe_cli_triggers_every_supported_fixture_against_the_emulator_offline() {
    let Some(cli) = stripe_cli() else {
        return;
    };
    let (version_ok, version) = run(cli, &std::env::temp_dir(), &["version"]);
    assert!(
        version_ok && version.contains(STRIPE_CLI),
        "stripe version: {version}"
    );
    let result = tokio::task::spawn_blocking(in_loopback_namespace)
        .await
        .expect("join");
    match result {
        Some((ok, output)) => assert!(ok, "in a loopback-only namespace:\n{output}"),
        None => {
            eprintln!("no loopback-only network namespace here; the triggers run in this process");
            let failures = trigger_all(cli).await;
            assert!(failures.is_empty(), "{}", failures.join("\n\n"));
        }
    }
}

/// The part that runs inside the namespace (see the module comment); on its own it runs the triggers here.
#[tokio::test]
#[ignore = "run by stripe_cli_triggers_every_supported_fixture_against_the_emulator_offline in a loopback-only namespace"]
async fn triggers_run_against_an_emulator_in_this_process() {
    if std::env::var_os(IN_NAMESPACE).is_some() {
        eprintln!("in a loopback-only network namespace");
    }
    let Some(cli) = stripe_cli() else {
        return;
    };
    let failures = trigger_all(cli).await;
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
