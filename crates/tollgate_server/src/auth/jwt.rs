//! Bearer JWTs signed by the host application's identity provider: HS256 with a shared
//! secret, or RS256/ES256 with a PEM public key or a JWKS file. `exp`, `iss` and `aud` are
//! required and checked; the algorithm is fixed by configuration, never taken from the token
//! (so `alg: none` and algorithm-confusion tokens are refused).

use std::collections::HashMap;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, decode, decode_header};
use tollgate_core::Email;

use crate::config::{ConfigError, JwtAlgorithm, JwtConfig};

pub struct JwtVerifier {
    keys: Keys,
    validation: Validation,
    issuer: String,
    email_claim: String,
}

enum Keys {
    One(DecodingKey),
    /// Keys of a JWKS file by `kid`.
    Set(HashMap<String, DecodingKey>),
}

/// Who a verified token says the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `issuer|subject`: subjects are only unique per issuer.
    pub external_id: String,
    pub email: Option<Email>,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct JwtRejected(pub String);

impl JwtVerifier {
    pub fn new(config: &JwtConfig) -> Result<Self, ConfigError> {
        let algorithm = match config.algorithm {
            JwtAlgorithm::HS256 => Algorithm::HS256,
            JwtAlgorithm::RS256 => Algorithm::RS256,
            JwtAlgorithm::ES256 => Algorithm::ES256,
        };
        let keys = load_keys(config, algorithm)?;
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[config.issuer.as_str()]);
        validation.set_audience(&[config.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = config.leeway_seconds;
        Ok(Self {
            keys,
            validation,
            issuer: config.issuer.clone(),
            email_claim: config.email_claim.clone(),
        })
    }

    pub fn verify(&self, token: &str) -> Result<Identity, JwtRejected> {
        let header = decode_header(token).map_err(|e| JwtRejected(format!("header: {e}")))?;
        let key = match &self.keys {
            Keys::One(key) => key,
            Keys::Set(keys) => match (&header.kid, keys.len()) {
                (Some(kid), _) => keys
                    .get(kid)
                    .ok_or_else(|| JwtRejected(format!("unknown kid {kid:?}")))?,
                (None, 1) => keys.values().next().expect("BUG: one key"),
                (None, _) => return Err(JwtRejected("token has no kid".into())),
            },
        };
        let data = decode::<serde_json::Value>(token, key, &self.validation)
            .map_err(|e| JwtRejected(e.to_string()))?;
        let subject = data
            .claims
            .get("sub")
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| JwtRejected("sub must be a non-empty string".into()))?;
        let email = data
            .claims
            .get(&self.email_claim)
            .and_then(|v| v.as_str())
            .and_then(|e| Email::parse(e).ok());
        Ok(Identity {
            external_id: format!("{}|{subject}", self.issuer),
            email,
        })
    }
}

fn load_keys(config: &JwtConfig, algorithm: Algorithm) -> Result<Keys, ConfigError> {
    let read = |key: &str, path: &std::path::Path| {
        std::fs::read(path).map_err(|e| ConfigError {
            key: key.to_string(),
            origin: None,
            message: format!("cannot read {}: {e}", path.display()),
        })
    };
    let invalid = |key: &str, message: String| ConfigError {
        key: key.to_string(),
        origin: None,
        message,
    };
    if let Some(secret) = &config.secret {
        return Ok(Keys::One(DecodingKey::from_secret(
            secret.expose().as_bytes(),
        )));
    }
    if let Some(path) = &config.public_key_file {
        let pem = read("auth.jwt.public_key_file", path)?;
        let key = match algorithm {
            Algorithm::ES256 => DecodingKey::from_ec_pem(&pem),
            _ => DecodingKey::from_rsa_pem(&pem),
        }
        .map_err(|e| {
            invalid(
                "auth.jwt.public_key_file",
                format!("not a usable PEM public key: {e}"),
            )
        })?;
        return Ok(Keys::One(key));
    }
    if let Some(path) = &config.jwks_file {
        let bytes = read("auth.jwt.jwks_file", path)?;
        let set: JwkSet = serde_json::from_slice(&bytes)
            .map_err(|e| invalid("auth.jwt.jwks_file", format!("not a JWKS document: {e}")))?;
        let mut keys = HashMap::new();
        for (index, jwk) in set.keys.iter().enumerate() {
            let key = DecodingKey::from_jwk(jwk)
                .map_err(|e| invalid("auth.jwt.jwks_file", format!("key {index}: {e}")))?;
            let kid = jwk
                .common
                .key_id
                .clone()
                .unwrap_or_else(|| index.to_string());
            keys.insert(kid, key);
        }
        if keys.is_empty() {
            return Err(invalid("auth.jwt.jwks_file", "holds no keys".into()));
        }
        return Ok(Keys::Set(keys));
    }
    Err(invalid(
        "auth.jwt",
        "no secret, public_key_file or jwks_file".into(),
    ))
}
