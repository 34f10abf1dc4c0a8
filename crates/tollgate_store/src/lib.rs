//! tollgate's `Store` on SQLite (embedded, the default) and PostgreSQL, with SQL written once:
//! each role trait of `tollgate_core::store` is implemented in the module that holds its SQL.

mod api_keys;
mod audit;
mod billing;
mod columns;
mod console;
mod coupons;
mod database;
mod id_filter;
mod inbox;
mod journal;
mod journal_thread;
mod ledger;
mod mentors;
mod outbox;
mod payments;
mod sessions;
mod tenant_billing;
mod tenant_contracts;
mod tenant_scope;
mod tenants;
mod users;

#[cfg(feature = "testing")]
pub mod testing;

pub use database::{Backend, ConnectError, SqlStore};
