//! Authentication: server-side sessions with CSRF, bearer JWTs from the host application's
//! identity provider, and per-user API keys; plus the rate limits on sign-in.

pub mod cookie;
pub mod extract;
pub mod hashing;
pub mod jwt;
pub mod origin;
pub mod rate_limit;
pub mod scope;
pub mod sign_in;

pub use extract::{Admin, AuthMethod, Authenticated, TenantAdmin};
