//! Bearer JWTs from the host application's identity provider.

use std::path::PathBuf;

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tollgate_core::Secret;
use tollgate_server::config::{JwtAlgorithm, JwtConfig};

use crate::support::{TestApp, browser, error_of};

const HS_SECRET: &str = "a-shared-secret-of-at-least-32-bytes!";
const ISSUER: &str = "https://id.example.com";
const AUDIENCE: &str = "tollgate";

fn keys_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/keys")
}

fn jwt_config(algorithm: JwtAlgorithm) -> JwtConfig {
    JwtConfig {
        algorithm,
        secret: (algorithm == JwtAlgorithm::HS256).then(|| Secret::new(HS_SECRET.to_string())),
        public_key_file: (algorithm == JwtAlgorithm::RS256)
            .then(|| keys_dir().join("rsa_public.pem")),
        jwks_file: (algorithm == JwtAlgorithm::ES256).then(|| keys_dir().join("ec_jwks.json")),
        issuer: ISSUER.to_string(),
        audience: AUDIENCE.to_string(),
        email_claim: "email".to_string(),
        leeway_seconds: 0,
    }
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn claims(sub: &str) -> Value {
    json!({ "sub": sub, "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 300, "email": format!("{sub}@example.com") })
}

fn hs256(claims: &Value, secret: &str) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("sign")
}

async fn me(app: &TestApp, token: &str) -> reqwest::Response {
    browser()
        .get(app.url("/api/v1/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("me")
}

#[tokio::test]
async fn a_valid_hs256_token_is_accepted_and_provisions_its_user_once() {
    for app in TestApp::all_with(|c| c.auth.jwt = Some(jwt_config(JwtAlgorithm::HS256))).await {
        let token = hs256(&claims("alice"), HS_SECRET);
        let first: Value = me(&app, &token).await.json().await.expect("json");
        assert_eq!(first["auth_method"], "jwt");
        assert_eq!(first["user"]["email"], "alice@example.com");
        let second: Value = me(&app, &token).await.json().await.expect("json");
        assert_eq!(
            first["user"]["id"], second["user"]["id"],
            "the same sub is the same user"
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn expired_wrong_audience_wrong_issuer_bad_signature_and_alg_none_tokens_are_rejected() {
    for app in TestApp::all_with(|c| c.auth.jwt = Some(jwt_config(JwtAlgorithm::HS256))).await {
        let mut expired = claims("bob");
        expired["exp"] = json!(now() - 60);
        let mut wrong_audience = claims("bob");
        wrong_audience["aud"] = json!("someone-else");
        let mut wrong_issuer = claims("bob");
        wrong_issuer["iss"] = json!("https://evil.example.com");
        let mut no_exp = claims("bob");
        no_exp.as_object_mut().expect("object").remove("exp");
        let unsigned = {
            use base64::Engine;
            let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            format!(
                "{}.{}.",
                b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
                b64.encode(claims("bob").to_string())
            )
        };
        let cases = [
            ("expired", hs256(&expired, HS_SECRET)),
            ("wrong audience", hs256(&wrong_audience, HS_SECRET)),
            ("wrong issuer", hs256(&wrong_issuer, HS_SECRET)),
            ("no exp", hs256(&no_exp, HS_SECRET)),
            (
                "bad signature",
                hs256(&claims("bob"), "another-secret-that-is-32-bytes-long"),
            ),
            ("alg none", unsigned),
            ("garbage", "not.a.jwt".to_string()),
        ];
        for (case, token) in cases {
            let (status, error) = error_of(me(&app, &token).await).await;
            assert_eq!(
                (status, error["code"].as_str()),
                (StatusCode::UNAUTHORIZED, Some("invalid_token")),
                "{case}"
            );
        }
        let users = tollgate_core::AccountStore::count_users(&app.store, None)
            .await
            .expect("count");
        assert_eq!(users, 0, "no rejected token provisioned a user");
        app.stop().await;
    }
}

#[tokio::test]
async fn an_rs256_token_verifies_with_the_configured_public_key() {
    for app in TestApp::all_with(|c| c.auth.jwt = Some(jwt_config(JwtAlgorithm::RS256))).await {
        let pem = std::fs::read(keys_dir().join("rsa_private.pem")).expect("key");
        let token = encode(
            &Header::new(Algorithm::RS256),
            &claims("carol"),
            &EncodingKey::from_rsa_pem(&pem).expect("rsa"),
        )
        .expect("sign");
        assert_eq!(me(&app, &token).await.status(), StatusCode::OK);
        // An HS256 token "signed" with the public key must not pass (algorithm confusion).
        let public = std::fs::read_to_string(keys_dir().join("rsa_public.pem")).expect("key");
        let confused = hs256(&claims("mallory"), &public);
        assert_eq!(me(&app, &confused).await.status(), StatusCode::UNAUTHORIZED);
        app.stop().await;
    }
}

#[tokio::test]
async fn an_es256_token_verifies_with_a_key_from_the_jwks_file() {
    for app in TestApp::all_with(|c| c.auth.jwt = Some(jwt_config(JwtAlgorithm::ES256))).await {
        let pem = std::fs::read(keys_dir().join("ec_private.pem")).expect("key");
        let key = EncodingKey::from_ec_pem(&pem).expect("ec");
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some("test-ec-1".to_string());
        let token = encode(&header, &claims("dave"), &key).expect("sign");
        assert_eq!(me(&app, &token).await.status(), StatusCode::OK);
        header.kid = Some("unknown-kid".to_string());
        let unknown = encode(&header, &claims("dave"), &key).expect("sign");
        assert_eq!(me(&app, &unknown).await.status(), StatusCode::UNAUTHORIZED);
        app.stop().await;
    }
}
