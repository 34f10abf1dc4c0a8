//! Stripe's official Python library against the emulator (needs `python3` with `pip install stripe`).

mod common;

use common::{Emu, Receiver};

fn python(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new("python3")
        .args(args)
        .output()
        .expect("python3 runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn script(name: &str) -> String {
    format!("{}/tests/stripe_python/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[tokio::test]
async fn stripe_python_drives_checkout_subscriptions_refunds_and_errors() {
    let emu = Emu::start().await;
    let base = emu.running.base_url().to_owned();
    let (ok, output) = tokio::task::spawn_blocking(move || python(&[&script("flow.py"), &base]))
        .await
        .expect("join");
    assert!(
        ok && output.trim_end().ends_with("ok"),
        "stripe-python flow failed:\n{output}"
    );
}

#[tokio::test]
async fn stripe_pythons_webhook_verifier_accepts_the_emulators_signature() {
    let receiver = Receiver::start().await;
    let secret = "whsec_python_check";
    let mut config = common::config();
    config.webhook_endpoints = vec![receiver.endpoint(secret)];
    let emu = Emu::start_with(config).await;
    emu.ok("/v1/customers", &[("email", "sig@example.com")])
        .await;
    let (header, body) = receiver
        .wait_for(1)
        .await
        .into_iter()
        .next()
        .expect("a delivery");
    let file = std::env::temp_dir().join(format!("emulator-webhook-{}.json", std::process::id()));
    std::fs::write(&file, &body).expect("write payload");
    let path = file.display().to_string();
    let (ok, output) = tokio::task::spawn_blocking(move || {
        python(&[&script("verify.py"), &path, &header, secret])
    })
    .await
    .expect("join");
    let _ = std::fs::remove_file(&file);
    assert!(ok, "stripe-python rejected the signature:\n{output}");
    assert_eq!(output.trim(), "customer.created");
    let (rejected, _) = {
        let other =
            std::env::temp_dir().join(format!("emulator-webhook-bad-{}.json", std::process::id()));
        std::fs::write(
            &other,
            body.replace("sig@example.com", "forged@example.com"),
        )
        .expect("write");
        let path = other.display().to_string();
        let header = receiver.received.lock().expect("lock")[0].0.clone();
        let r = tokio::task::spawn_blocking(move || {
            python(&[&script("verify.py"), &path, &header, secret])
        })
        .await
        .expect("join");
        let _ = std::fs::remove_file(&other);
        r
    };
    assert!(!rejected, "a forged payload must not verify");
}
