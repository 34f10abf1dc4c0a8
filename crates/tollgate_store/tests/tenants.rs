//! Tenant isolation in the store: every scoped method sees one tenant, and on PostgreSQL with
//! row-level security on, the database itself shows a scoped transaction one tenant's rows even
//! for a statement without a tenant filter.

use sqlx::{Connection, Executor, PgConnection, Row};
use time::OffsetDateTime;
use tollgate_core::audit::{Actor, AuditEntry};
use tollgate_core::fee::FeePolicy;
use tollgate_core::stripe::StripeCustomerId;
use tollgate_core::tenant::{Tenant, TenantScope, TenantStatus};
use tollgate_core::tenant_billing::TenantCustomer;
use tollgate_core::{Email, TenantBillingStore, TenantCustomerId, TenantId, TenantStore};
use tollgate_store::SqlStore;
use tollgate_store::testing::{TestDatabase, postgres_url};

fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .expect("valid")
}

/// Inserts a tenant with one customer; returns its scope and the customer.
async fn tenant_with_customer(store: &SqlStore, name: &str) -> (TenantScope, TenantCustomer) {
    let at = now();
    let tenant = Tenant {
        id: TenantId::new(),
        name: name.into(),
        email: Email::parse(&format!("{name}@t.example")).expect("email"),
        country: "US".into(),
        fees: FeePolicy::default(),
        status: TenantStatus::Active,
        account_id: None,
        account_kind: None,
        connect: None,
        created_at: at,
        updated_at: at,
    };
    let audit = AuditEntry::new(
        Actor::System,
        "tenant.create",
        format!("tenant:{}", tenant.id),
        serde_json::json!({}),
        at,
    );
    store.insert_tenant(&tenant, &audit).await.expect("tenant");
    let scope = TenantScope::of_tenant(&tenant);
    let customer = TenantCustomer {
        id: TenantCustomerId::new(),
        tenant_id: tenant.id,
        email: Email::parse(&format!("client@{name}.example")).expect("email"),
        name: None,
        stripe_customer_id: StripeCustomerId::parse("cus_test").expect("id"),
        created_at: at,
    };
    let stored = store
        .insert_tenant_customer(&scope, &customer)
        .await
        .expect("customer");
    (scope, stored)
}

#[tokio::test]
async fn a_scope_reads_and_finds_only_its_own_tenants_rows() {
    for database in TestDatabase::all().await {
        let store = database.store().await;
        let (a, customer_a) = tenant_with_customer(&store, "alpha").await;
        let (b, _) = tenant_with_customer(&store, "beta").await;
        assert_eq!(
            store
                .tenant_customer(&a, customer_a.id)
                .await
                .expect("read"),
            Some(customer_a.clone())
        );
        assert_eq!(
            store
                .tenant_customer(&b, customer_a.id)
                .await
                .expect("read"),
            None,
            "B's scope does not find A's customer by its id"
        );
        let page = tollgate_core::store::Page {
            limit: 10,
            before: None,
        };
        let listed = store.tenant_customers(&b, page).await.expect("list");
        assert!(listed.iter().all(|c| c.tenant_id == b.tenant_id()));
        assert_eq!(listed.len(), 1);
        store.close().await;
    }
}

#[tokio::test]
async fn row_level_security_shows_a_scoped_transaction_one_tenant_whatever_its_statement() {
    let Some(server) = postgres_url() else {
        eprintln!("skipped: row-level security is PostgreSQL's; set TOLLGATE_TEST_POSTGRES_URL");
        return;
    };
    let database = TestDatabase::postgres(&server).await;
    let store = database
        .store()
        .await
        .with_row_level_security()
        .await
        .expect("row-level security on");
    assert!(store.row_level_security());
    // The store's own scoped writes and reads work behind the policies.
    let (a, customer_a) = tenant_with_customer(&store, "alpha").await;
    let (b, customer_b) = tenant_with_customer(&store, "beta").await;
    assert_eq!(
        store
            .tenant_customer(&b, customer_a.id)
            .await
            .expect("read"),
        None
    );
    assert_eq!(
        store.tenant(&a).await.expect("read").map(|t| t.id),
        Some(a.tenant_id())
    );

    // A statement with no tenant filter at all, as a forgetful query would be.
    let mut conn = PgConnection::connect(&database.url).await.expect("connect");
    // Every table holding tenant rows is behind a policy (users belong to the platform too).
    let unguarded = conn
        .fetch_all(
            "SELECT c.table_name FROM information_schema.columns c \
             JOIN pg_class t ON t.relname = c.table_name \
             WHERE c.column_name = 'tenant_id' AND c.table_schema = current_schema() \
             AND c.table_name <> 'users' AND NOT t.relrowsecurity",
        )
        .await
        .expect("tables");
    let unguarded: Vec<String> = unguarded.iter().map(|r| r.get(0)).collect();
    assert!(
        unguarded.is_empty(),
        "tenant tables without row-level security: {unguarded:?}"
    );
    let count = |rows: Vec<sqlx::postgres::PgRow>| rows[0].get::<i64, _>(0);
    let everyone = conn
        .fetch_all("SELECT count(*) FROM tenant_customers")
        .await
        .expect("count");
    assert_eq!(
        count(everyone),
        2,
        "the owner role sees every tenant (RLS off)"
    );

    let scoped_count = |tenant: Option<String>| {
        let url = database.url.clone();
        async move {
            let mut conn = PgConnection::connect(&url).await.expect("connect");
            let mut tx = conn.begin().await.expect("begin");
            tx.execute("SET LOCAL ROLE tollgate_tenant")
                .await
                .expect("role");
            if let Some(tenant) = tenant {
                sqlx::query("SELECT set_config('tollgate.tenant_id', $1, true)")
                    .bind(tenant)
                    .execute(&mut *tx)
                    .await
                    .expect("scope");
            }
            let rows = tx
                .fetch_all("SELECT email FROM tenant_customers")
                .await
                .expect("select");
            rows.iter()
                .map(|r| r.get::<String, _>(0))
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        scoped_count(Some(a.tenant_id().to_string())).await,
        vec![customer_a.email.as_str().to_string()]
    );
    assert_eq!(
        scoped_count(Some(b.tenant_id().to_string())).await,
        vec![customer_b.email.as_str().to_string()]
    );
    assert!(
        scoped_count(None).await.is_empty(),
        "no tenant set: no rows"
    );

    // Nor can a scoped transaction write a row into another tenant.
    let mut tx = conn.begin().await.expect("begin");
    tx.execute("SET LOCAL ROLE tollgate_tenant")
        .await
        .expect("role");
    sqlx::query("SELECT set_config('tollgate.tenant_id', $1, true)")
        .bind(a.tenant_id().to_string())
        .execute(&mut *tx)
        .await
        .expect("scope");
    let smuggled = sqlx::query(
        "INSERT INTO tenant_customers (id, tenant_id, email, stripe_customer_id, created_at) \
         VALUES ('x', $1, 'x@x.example', 'cus_x', 0)",
    )
    .bind(b.tenant_id().to_string())
    .execute(&mut *tx)
    .await;
    assert!(
        smuggled.is_err(),
        "the policy's WITH CHECK refuses B's row in A's scope"
    );
    drop(tx);
    conn.close().await.ok();
    store.close().await;
}
