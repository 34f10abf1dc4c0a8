//! tollgate's domain, free of I/O: accounts and credentials, subscriptions, credits and the
//! ledger, refunds, coupons and referrals, the webhook inbox's rules and the admin console's
//! facts, over the role traits of `store`, `StripeApi`, `password::Hashing` and `Clock`.

pub mod account;
pub mod api_key;
pub mod audit;
pub mod billing;
pub mod clock;
pub mod connect;
pub mod connect_sync;
pub mod coupon;
pub mod credits;
pub mod email;
pub mod fee;
pub mod id;
pub mod inbox;
pub mod invoice;
pub mod ledger;
pub mod member;
pub mod mentor;
pub mod money;
pub mod notification;
pub mod password;
pub mod payment;
pub mod payment_sync;
pub mod plan;
pub mod referral;
pub mod refund;
pub mod secret;
pub mod store;
pub mod stripe;
pub mod subscription;
pub mod sync;
pub mod tenant;
pub mod tenant_billing;
pub mod tenant_contracts;
pub mod token;
pub mod usage;

pub use clock::{Clock, SystemClock};
pub use email::Email;
pub use id::{
    ApiKeyId, AuditId, EntryId, MentorId, PaymentId, RefundId, TenantContractId, TenantCustomerId,
    TenantId, TenantInvoiceId, TenantRefundId, UserId,
};
pub use secret::Secret;
pub use store::{
    AccountStore, ApiKeyStore, AuditStore, BillingStore, ConsoleStore, CouponStore, HealthStore,
    InboxStore, LedgerStore, MentorStore, OutboxStore, PaymentStore, SessionStore, Store,
    StoreError, TenantBillingStore, TenantContractStore, TenantStore,
};
