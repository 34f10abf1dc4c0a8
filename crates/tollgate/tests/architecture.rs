//! The arrows point inward: tollgate_core, the domain, depends on nothing that does I/O.

use std::process::Command;

#[test]
fn the_core_crate_pulls_in_no_web_framework_database_driver_or_http_client() {
    let output = Command::new(env!("CARGO"))
        .args([
            "tree",
            "-p",
            "tollgate_core",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run cargo tree");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8_lossy(&output.stdout);
    assert!(tree.contains("tollgate_core"), "{tree}");
    let crates: Vec<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    for forbidden in [
        "axum",
        "hyper",
        "sqlx",
        "sqlx-core",
        "reqwest",
        "tokio",
        "async-stripe",
        "tower",
    ] {
        assert!(
            !crates.contains(&forbidden),
            "tollgate_core depends on {forbidden}:\n{tree}"
        );
    }
}
