//! Provisions npm packages for the tests that drive an outside client (stripe-node, the Stripe CLI): once per
//! target directory, pinned, into `<target>/test-deps/node-<name>-<version>`, under a lock.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Cargo's target directory: the ancestor of this test binary that holds Cargo's `CACHEDIR.TAG`.
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary has a path");
    exe.ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .or_else(|| exe.ancestors().nth(3))
        .expect("the test binary lives under a target directory")
        .to_path_buf()
}

/// Whether `npm` runs here. Without it a test fails with a clear message under CI (`CI` set) and is skipped
/// with a printed notice elsewhere; `what` names the client for that message.
pub fn available(what: &str) -> bool {
    let runs = Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !runs {
        assert!(
            std::env::var_os("CI").is_none(),
            "{what} needs npm (Node.js 18 or later) on PATH, and CI is set: install Node.js with npm"
        );
        eprintln!(
            "SKIPPED: {what} needs npm (Node.js 18 or later) on PATH; install Node.js to run it"
        );
    }
    runs
}

/// Installs `package@version` once into the target directory and returns the install prefix (its packages
/// are in `<prefix>/node_modules`). A lock file keeps parallel tests and test binaries from installing at the
/// same time; the install goes to a scratch folder and is renamed into place, so a half-done install is never
/// used. npm's download cache lives under `test-deps` too. Install scripts do not run: the packages used here
/// need none (the Stripe CLI's binary comes in its platform package, its script only downloads a missing one).
pub fn install(package: &str, version: &str) -> PathBuf {
    let deps = target_dir().join("test-deps");
    let name = format!(
        "node-{}-{version}",
        package.trim_start_matches('@').replace('/', "-")
    );
    let dir = deps.join(&name);
    let done = |d: &Path| d.join(".installed").is_file();
    if done(&dir) {
        return dir;
    }
    std::fs::create_dir_all(&deps).expect("create target/test-deps");
    let lock = std::fs::File::create(deps.join("node.lock")).expect("create the lock file");
    lock.lock().expect("lock target/test-deps/node.lock");
    if !done(&dir) {
        let scratch = deps.join(format!("{name}.partial"));
        let _ = std::fs::remove_dir_all(&scratch);
        std::fs::create_dir_all(&scratch).expect("create the scratch folder");
        let out = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--ignore-scripts"])
            .args(["--loglevel", "error", "--cache"])
            .arg(deps.join("npm-cache"))
            .arg("--prefix")
            .arg(&scratch)
            .arg(format!("{package}@{version}"))
            .output()
            .expect("npm runs");
        assert!(
            out.status.success(),
            "installing {package}@{version} into {} failed:\n{}{}",
            scratch.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(scratch.join(".installed"), format!("{package}@{version}\n"))
            .expect("mark the install complete");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::rename(&scratch, &dir).expect("move the install into place");
    }
    dir
}
