//! Stripe's official Python library against the emulator. The tests provision it themselves (only `python3`
//! with pip is needed): once per target directory, into `<target>/test-deps/python-stripe-<version>`.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{Emu, Receiver};

/// The stripe-python release the scripts are written against.
const STRIPE_PYTHON: &str = "16.1.0";

/// Cargo's target directory: the ancestor of this test binary that holds Cargo's `CACHEDIR.TAG`.
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    exe.ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .or_else(|| exe.ancestors().nth(3))
        .expect("the test binary lives under a target directory")
        .to_path_buf()
}

/// Installs stripe-python (and its dependencies) once into the target directory and returns that folder, for
/// `PYTHONPATH`. A lock file keeps parallel tests and parallel test binaries from installing at the same time;
/// the install goes to a scratch folder first and is renamed into place, so a half-done install is never used.
fn stripe_python_path() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let deps = target_dir().join("test-deps");
        let dir = deps.join(format!("python-stripe-{STRIPE_PYTHON}"));
        if dir.join("stripe").is_dir() {
            return dir;
        }
        std::fs::create_dir_all(&deps).expect("create target/test-deps");
        let lock = std::fs::File::create(deps.join("python.lock")).expect("create the lock file");
        lock.lock().expect("lock target/test-deps/python.lock");
        if !dir.join("stripe").is_dir() {
            let scratch = deps.join(format!("python-stripe-{STRIPE_PYTHON}.partial"));
            let _ = std::fs::remove_dir_all(&scratch);
            let out = std::process::Command::new("python3")
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                ])
                .args(["--no-input", "--no-warn-script-location", "--target"])
                .arg(&scratch)
                .arg(format!("stripe=={STRIPE_PYTHON}"))
                .output()
                .expect("python3 runs");
            assert!(
                out.status.success(),
                "installing stripe-python {STRIPE_PYTHON} into {} failed:\n{}{}",
                scratch.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::rename(&scratch, &dir).expect("move the install into place");
        }
        dir
    })
}

fn python(args: &[&str]) -> (bool, String) {
    let out = std::process::Command::new("python3")
        .env("PYTHONPATH", stripe_python_path())
        .env("PYTHONNOUSERSITE", "1")
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
