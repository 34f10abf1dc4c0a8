//! Stripe's official Node library (stripe-node) against the emulator. The tests provision it themselves (only
//! `node` with npm is needed): once per target directory, into `<target>/test-deps/node-stripe-<version>`.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use common::{Emu, Receiver};

/// The stripe-node release the scripts are written against.
const STRIPE_NODE: &str = "23.2.0";

/// The installed stripe-node's `node_modules`, for `NODE_PATH`; `None` (after a printed notice) when npm is
/// missing outside CI.
fn stripe_node_modules() -> Option<&'static PathBuf> {
    static PATH: OnceLock<Option<PathBuf>> = OnceLock::new();
    PATH.get_or_init(|| {
        common::npm::available("stripe-node")
            .then(|| common::npm::install("stripe", STRIPE_NODE).join("node_modules"))
    })
    .as_ref()
}

fn script(name: &str) -> String {
    format!("{}/tests/stripe_node/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `node <args>` with stripe-node on its path; returns whether it exited 0, and what it printed.
async fn node(modules: &'static PathBuf, args: Vec<String>) -> (bool, String) {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new("node")
            .env("NODE_PATH", modules)
            .args(&args)
            .output()
            .expect("node runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    })
    .await
    .expect("join")
}

#[tokio::test]
async fn stripe_node_drives_every_resource_connect_included_and_each_event_deserializes() {
    let Some(modules) = stripe_node_modules() else {
        return;
    };
    let emu = Emu::start().await;
    let base = emu.running.base_url().to_owned();
    let (ok, output) = node(modules, vec![script("flow.js"), base]).await;
    assert!(
        ok && output.trim_end().ends_with("ok"),
        "stripe-node flow failed:\n{output}"
    );
    let events = emu.events().await;
    assert!(
        events.len() > 50,
        "the flow emits the platform's events: {}",
        events.len()
    );
    for event in events {
        if let Err(e) = serde_json::from_value::<stripe_shared::Event>(event.clone()) {
            panic!(
                "{} does not deserialize as an async-stripe Event: {e}\n{event}",
                event["type"]
            );
        }
    }
}

#[tokio::test]
async fn stripe_nodes_construct_event_accepts_the_emulators_signature_and_rejects_a_forgery() {
    let Some(modules) = stripe_node_modules() else {
        return;
    };
    let receiver = Receiver::start().await;
    let secret = "whsec_node_check";
    let mut config = common::config();
    config.webhook_endpoints = vec![receiver.endpoint(secret)];
    let emu = Emu::start_with(config).await;
    emu.ok("/v1/customers", &[("email", "sig@example.com")])
        .await;
    let (delivered_header, body) = receiver
        .wait_for(1)
        .await
        .into_iter()
        .next()
        .expect("a delivery");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64;
    let signed_here = stripe_emulator::signature_header(secret, now, body.as_bytes());
    let dir = std::env::temp_dir().join(format!("emulator-node-webhook-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let genuine = dir.join("genuine.json");
    let forged = dir.join("forged.json");
    std::fs::write(&genuine, &body).expect("write payload");
    std::fs::write(
        &forged,
        body.replace("sig@example.com", "forged@example.com"),
    )
    .expect("write forged payload");
    let verify = |file: &std::path::Path, header: &str| {
        vec![
            script("verify.js"),
            file.display().to_string(),
            header.to_owned(),
            secret.to_owned(),
        ]
    };
    let delivered = node(modules, verify(&genuine, &delivered_header)).await;
    let direct = node(modules, verify(&genuine, &signed_here)).await;
    let forgery = node(modules, verify(&forged, &delivered_header)).await;
    let wrong_secret = node(
        modules,
        vec![
            script("verify.js"),
            genuine.display().to_string(),
            delivered_header.clone(),
            "whsec_other".to_owned(),
        ],
    )
    .await;
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        delivered.0,
        "stripe-node rejected a delivery:\n{}",
        delivered.1
    );
    assert_eq!(delivered.1.trim(), "customer.created");
    assert!(
        direct.0,
        "stripe-node rejected signature_header:\n{}",
        direct.1
    );
    assert_eq!(direct.1.trim(), "customer.created");
    assert!(
        !forgery.0,
        "a forged payload must not verify: {}",
        forgery.1
    );
    assert!(
        forgery.1.contains("StripeSignatureVerificationError"),
        "{}",
        forgery.1
    );
    assert!(!wrong_secret.0, "another secret must not verify");
}
