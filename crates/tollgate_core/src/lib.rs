//! tollgate's domain: the rules of accounts and credentials, free of I/O, over the `Store` and `Clock` ports.

pub mod account;
pub mod api_key;
pub mod audit;
pub mod billing;
pub mod clock;
pub mod email;
pub mod id;
pub mod inbox;
pub mod invoice;
pub mod member;
pub mod mentor;
pub mod notification;
pub mod password;
pub mod plan;
pub mod secret;
pub mod store;
pub mod stripe;
pub mod subscription;
pub mod sync;
pub mod token;

pub use clock::{Clock, SystemClock};
pub use email::Email;
pub use id::{ApiKeyId, AuditId, MentorId, TenantId, UserId};
pub use secret::Secret;
pub use store::{Store, StoreError};
