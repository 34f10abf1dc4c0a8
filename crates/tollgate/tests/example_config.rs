//! tollgate.example.toml stays true: it parses, and its values are the defaults.

use std::collections::BTreeMap;
use std::path::Path;

use tollgate_server::Config;

#[test]
fn the_example_configuration_parses_to_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tollgate.example.toml");
    let example = Config::load(Some(&path), &BTreeMap::new()).expect("the example parses");
    assert_eq!(
        example.to_redacted_toml(),
        Config::default().to_redacted_toml()
    );
}

#[test]
fn the_example_configuration_names_every_environment_variable() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tollgate.example.toml");
    let text = std::fs::read_to_string(path).expect("read");
    for name in tollgate_server::config::environment_variables() {
        assert!(
            text.contains(name),
            "tollgate.example.toml does not mention {name}"
        );
    }
}

#[test]
fn the_msp_platform_example_parses_and_configures_connect() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/msp-platform/tollgate.toml");
    let example = Config::load(Some(&path), &BTreeMap::new()).expect("the example parses");
    assert_eq!(
        example.connect.account_kind(),
        tollgate_core::connect::AccountKind::Express
    );
}
