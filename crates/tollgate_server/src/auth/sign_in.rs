//! The one login and signup policy of the API and the pages: the per-IP limits, the per-email
//! failure counter and its reset, and the password check. Callers differ only in how they
//! render a `Refusal`.

use std::net::IpAddr;

use tollgate_core::account::{self, AccountError, Role, User};
use tollgate_core::{Email, Secret};

use crate::auth::hashing::BlockingPool;
use crate::error::ApiError;
use crate::state::AppState;

/// Why a login or a signup did not go ahead.
#[derive(Debug)]
pub enum Refusal {
    /// Too many attempts from this address, or (login) failures for this email.
    Limited {
        retry_after_secs: u64,
    },
    /// What was typed is not an email address (the pages parse it after the limit; the API's
    /// body parsed it already).
    NotAnEmail,
    Account(AccountError),
    Api(ApiError),
}

impl From<Refusal> for ApiError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::Limited { retry_after_secs } => ApiError::RateLimited { retry_after_secs },
            Refusal::NotAnEmail => ApiError::invalid_field("email", "not an email address"),
            Refusal::Account(error) => error.into(),
            Refusal::Api(error) => error,
        }
    }
}

/// Checks a login attempt from `ip` against the limits and the stored password.
pub async fn log_in(
    state: &AppState,
    ip: IpAddr,
    email: Option<&Email>,
    password: &Secret,
) -> Result<User, Refusal> {
    let limited = |retry_after_secs| Refusal::Limited { retry_after_secs };
    state
        .limits
        .login_per_ip
        .hit(&ip.to_string())
        .map_err(limited)?;
    let email = email.ok_or(Refusal::NotAnEmail)?;
    let limits = &state.limits;
    // Counted per email whether or not an account has it, so the limit reveals nothing; and
    // per client address, so that a stranger's failures lock out only the stranger. The
    // attempt is counted before the (slow) password check, so concurrent guesses cannot all
    // slip under the limit (issue 24, findings 1 and 2).
    let attempt_key = format!("{}|{ip}", email.as_str());
    let account_key = email.as_str();
    limits
        .login_attempts_per_account_and_ip
        .hit(&attempt_key)
        .map_err(limited)?;
    // Past the account's ceiling of failures from everywhere, every attempt waits, so that a
    // spread-out guesser is slowed; the owner still gets in, a little later.
    if limits
        .login_failures_per_account
        .check(account_key)
        .is_err()
    {
        tokio::time::sleep(limits.login_slowdown).await;
    }
    match account::authenticate(state.store.as_ref(), &BlockingPool, email, password).await {
        Ok(user) => {
            limits.login_attempts_per_account_and_ip.reset(&attempt_key);
            Ok(user)
        }
        Err(AccountError::InvalidCredentials) => {
            let _ = limits.login_failures_per_account.hit(account_key);
            Err(Refusal::Account(AccountError::InvalidCredentials))
        }
        Err(other) => Err(Refusal::Account(other)),
    }
}

/// Registers a member from `ip`, within the per-IP signup limit.
pub async fn sign_up(
    state: &AppState,
    ip: IpAddr,
    email: Option<Email>,
    password: Secret,
    referral_code: Option<&str>,
) -> Result<User, Refusal> {
    state
        .limits
        .signup_per_ip
        .hit(&ip.to_string())
        .map_err(|retry_after_secs| Refusal::Limited { retry_after_secs })?;
    let email = email.ok_or(Refusal::NotAnEmail)?;
    let signup = signup_extras(state, referral_code)
        .await
        .map_err(Refusal::Api)?;
    account::register(
        state.store.as_ref(),
        state.clock.as_ref(),
        &state.policy,
        &BlockingPool,
        account::Registration {
            email,
            password,
            role: Role::User,
            actor: None,
            signup,
        },
    )
    .await
    .map_err(Refusal::Account)
}

/// What a sign-up brings: its referrer, if the code names one, and the trial credits.
async fn signup_extras(
    state: &AppState,
    referral_code: Option<&str>,
) -> Result<account::Signup, ApiError> {
    let referred_by = match referral_code.map(str::trim).filter(|c| !c.is_empty()) {
        Some(code) => Some(state.billing().referrer(code).await?),
        None => None,
    };
    Ok(account::Signup {
        referred_by,
        credits: state.credits.signup_credits,
    })
}
