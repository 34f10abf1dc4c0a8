//! The Store contract: every method, on SQLite always and on PostgreSQL when
//! TOLLGATE_TEST_POSTGRES_URL is set, each test on a fresh database.

use time::{Duration, OffsetDateTime};
use tollgate_core::account::{NewUser, Role, SessionRecord};
use tollgate_core::api_key::{ApiKey, NewApiKey};
use tollgate_core::audit::{Actor, AuditEntry};
use tollgate_core::store::Page;
use tollgate_core::{ApiKeyId, Email, Secret, Store, StoreError, UserId};
use tollgate_store::SqlStore;
use tollgate_store::testing::TestDatabase;

/// Runs one contract check against every configured backend.
macro_rules! contract {
    ($name:ident, $check:expr) => {
        #[tokio::test]
        async fn $name() {
            for database in TestDatabase::all().await {
                let store = database.store().await;
                let check: fn(SqlStore) -> _ = $check;
                check(store.clone()).await;
                store.close().await;
            }
        }
    };
}

fn now() -> OffsetDateTime {
    // Stored with millisecond precision: compare like with like.
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .expect("valid")
}

fn new_user(email: &str, at: OffsetDateTime) -> NewUser {
    NewUser {
        id: UserId::new(),
        email: Some(Email::parse(email).expect("valid email")),
        password_hash: Some("$argon2id$stub".to_string()),
        external_id: None,
        role: Role::User,
        tenant_id: None,
        created_at: at,
    }
}

fn audit_for(user: &NewUser, at: OffsetDateTime) -> AuditEntry {
    AuditEntry::new(
        Actor::User(user.id),
        "user.signup",
        format!("user:{}", user.id),
        serde_json::json!({"role": "user"}),
        at,
    )
}

async fn insert(store: &SqlStore, email: &str, at: OffsetDateTime) -> tollgate_core::account::User {
    let user = new_user(email, at);
    store
        .insert_user(&user, &audit_for(&user, at))
        .await
        .expect("insert user")
}

contract!(migrations_run_twice_are_a_no_op, |store| async move {
    assert_eq!(
        store.migrate().await.expect("second run"),
        Vec::<i64>::new()
    );
    store.ready().await.expect("ready after migrations");
});

contract!(
    a_user_is_found_by_id_and_by_email_in_any_case,
    |store| async move {
        let at = now();
        let user = insert(&store, "Ada@Example.com", at).await;
        assert_eq!(
            store.user(user.id).await.expect("by id"),
            Some(user.clone())
        );
        let (found, hash) = store
            .credentials_by_email(&Email::parse("ADA@example.COM").expect("valid"))
            .await
            .expect("by email")
            .expect("exists");
        assert_eq!(found, user);
        assert_eq!(hash.as_deref(), Some("$argon2id$stub"));
        assert_eq!(found.created_at, at);
        assert_eq!(store.user(UserId::new()).await.expect("lookup"), None);
    }
);

contract!(
    a_second_account_with_the_same_email_is_a_conflict_and_writes_nothing,
    |store| async move {
        let at = now();
        insert(&store, "ada@example.com", at).await;
        let twin = new_user("ADA@example.com", at);
        let result = store.insert_user(&twin, &audit_for(&twin, at)).await;
        assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
        assert_eq!(store.user(twin.id).await.expect("lookup"), None);
        let audit = store
            .audit_log(Page {
                limit: 10,
                before: None,
            })
            .await
            .expect("audit");
        assert_eq!(audit.len(), 1, "the failed insert left no audit entry");
    }
);

contract!(an_external_identity_maps_to_one_user, |store| async move {
    let at = now();
    let mut user = new_user("jwt@example.com", at);
    user.password_hash = None;
    user.external_id = Some("https://id.example|sub-1".to_string());
    let inserted = store
        .insert_user(&user, &audit_for(&user, at))
        .await
        .expect("insert");
    assert_eq!(
        store
            .user_by_external_id("https://id.example|sub-1")
            .await
            .expect("lookup"),
        Some(inserted)
    );
    let mut twin = new_user("other@example.com", at);
    twin.external_id = user.external_id.clone();
    assert!(matches!(
        store.insert_user(&twin, &audit_for(&twin, at)).await,
        Err(StoreError::Conflict(_))
    ));
    let (_, hash) = store
        .credentials_by_email(&Email::parse("jwt@example.com").expect("valid"))
        .await
        .expect("lookup")
        .expect("exists");
    assert_eq!(hash, None, "an external user has no password");
});

contract!(
    users_are_listed_newest_first_in_keyset_pages_and_by_role,
    |store| async move {
        let start = now();
        let mut ids = Vec::new();
        for i in 0..5 {
            let mut user = new_user(&format!("u{i}@example.com"), start + Duration::seconds(i));
            if i % 2 == 0 {
                user.role = Role::Admin;
            }
            ids.push(user.id);
            store
                .insert_user(&user, &audit_for(&user, user.created_at))
                .await
                .expect("insert");
        }
        let first = store
            .users(
                None,
                Page {
                    limit: 2,
                    before: None,
                },
            )
            .await
            .expect("page 1");
        assert_eq!(
            first.iter().map(|u| u.id).collect::<Vec<_>>(),
            vec![ids[4], ids[3]]
        );
        let second = store
            .users(
                None,
                Page {
                    limit: 2,
                    before: Some(ids[3]),
                },
            )
            .await
            .expect("page 2");
        assert_eq!(
            second.iter().map(|u| u.id).collect::<Vec<_>>(),
            vec![ids[2], ids[1]]
        );
        let admins = store
            .users(
                Some(Role::Admin),
                Page {
                    limit: 10,
                    before: None,
                },
            )
            .await
            .expect("admins");
        assert_eq!(
            admins.iter().map(|u| u.id).collect::<Vec<_>>(),
            vec![ids[4], ids[2], ids[0]]
        );
        assert_eq!(store.count_users(None).await.expect("count"), 5);
        assert_eq!(
            store.count_users(Some(Role::Admin)).await.expect("count"),
            3
        );
    }
);

contract!(
    a_session_is_found_until_it_expires_or_is_deleted,
    |store| async move {
        let at = now();
        let user = insert(&store, "s@example.com", at).await;
        let session = SessionRecord {
            token_hash: "hash-1".to_string(),
            user_id: user.id,
            csrf_token: Secret::new("csrf-1".to_string()),
            created_at: at,
            expires_at: at + Duration::hours(1),
        };
        store
            .insert_session(&session)
            .await
            .expect("insert session");
        let (found, found_user) = store
            .session("hash-1", at)
            .await
            .expect("lookup")
            .expect("live");
        assert_eq!(found_user, user);
        assert_eq!(found.csrf_token.expose(), "csrf-1");
        assert_eq!(found.expires_at, session.expires_at);
        assert!(
            store
                .session("hash-1", at + Duration::hours(2))
                .await
                .expect("lookup")
                .is_none()
        );
        assert!(store.session("other", at).await.expect("lookup").is_none());

        assert_eq!(store.delete_expired_sessions(at).await.expect("sweep"), 0);
        assert_eq!(
            store
                .delete_expired_sessions(at + Duration::hours(2))
                .await
                .expect("sweep"),
            1
        );
        store.insert_session(&session).await.expect("insert again");
        store.delete_session("hash-1").await.expect("delete");
        assert!(store.session("hash-1", at).await.expect("lookup").is_none());
    }
);

contract!(
    an_api_key_authenticates_until_revoked_and_only_its_owner_revokes_it,
    |store| async move {
        let at = now();
        let owner = insert(&store, "owner@example.com", at).await;
        let other = insert(&store, "other@example.com", at).await;
        let key = ApiKey {
            id: ApiKeyId::new(),
            user_id: owner.id,
            name: "ci".to_string(),
            prefix: "tg_test_abcd".to_string(),
            created_at: at,
            last_used_at: None,
        };
        let audit = AuditEntry::new(
            Actor::User(owner.id),
            "api_key.create",
            format!("api_key:{}", key.id),
            serde_json::Value::Null,
            at,
        );
        store
            .insert_api_key(
                &NewApiKey {
                    key: key.clone(),
                    key_hash: "key-hash".to_string(),
                },
                &audit,
            )
            .await
            .expect("insert key");
        assert_eq!(store.api_keys(owner.id).await.expect("list").len(), 1);
        assert!(store.api_keys(other.id).await.expect("list").is_empty());

        let later = at + Duration::minutes(5);
        let (found, user) = store
            .authenticate_api_key("key-hash", later)
            .await
            .expect("lookup")
            .expect("live key");
        assert_eq!((found.id, user.id), (key.id, owner.id));
        let listed = store.api_keys(owner.id).await.expect("list");
        assert_eq!(listed[0].last_used_at, Some(later), "the use was recorded");

        let revoke_audit = AuditEntry::new(
            Actor::User(other.id),
            "api_key.revoke",
            format!("api_key:{}", key.id),
            serde_json::Value::Null,
            later,
        );
        assert!(
            !store
                .revoke_api_key(other.id, key.id, later, &revoke_audit)
                .await
                .expect("revoke")
        );
        assert!(
            store
                .revoke_api_key(owner.id, key.id, later, &revoke_audit)
                .await
                .expect("revoke")
        );
        assert!(
            !store
                .revoke_api_key(owner.id, key.id, later, &revoke_audit)
                .await
                .expect("revoke twice")
        );
        assert!(
            store
                .authenticate_api_key("key-hash", later)
                .await
                .expect("lookup")
                .is_none()
        );
        assert!(store.api_keys(owner.id).await.expect("list").is_empty());
    }
);

contract!(
    the_audit_log_pages_newest_first_with_details,
    |store| async move {
        let at = now();
        let mut ids = Vec::new();
        for i in 0..3 {
            let entry = AuditEntry::new(
                Actor::Cli,
                "admin.create",
                format!("user:{i}"),
                serde_json::json!({"n": i}),
                at + Duration::seconds(i),
            );
            ids.push(entry.id);
            store.append_audit(&entry).await.expect("append");
        }
        let page = store
            .audit_log(Page {
                limit: 2,
                before: None,
            })
            .await
            .expect("page");
        assert_eq!(
            page.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![ids[2], ids[1]]
        );
        assert_eq!(page[0].details, serde_json::json!({"n": 2}));
        assert_eq!(page[0].actor, Actor::Cli);
        let rest = store
            .audit_log(Page {
                limit: 2,
                before: Some(ids[1]),
            })
            .await
            .expect("page");
        assert_eq!(rest.iter().map(|e| e.id).collect::<Vec<_>>(), vec![ids[0]]);
    }
);

#[tokio::test]
async fn data_survives_reconnecting_to_an_existing_database() {
    for database in TestDatabase::all().await {
        let store = database.store().await;
        let user = insert(&store, "keep@example.com", now()).await;
        store.close().await;
        let reopened = database.store().await;
        assert_eq!(reopened.user(user.id).await.expect("lookup"), Some(user));
        reopened.close().await;
    }
}
