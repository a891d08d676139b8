//! The database engine against the real PostgreSQL and MariaDB on this machine (never a mock):
//! issue, log in, renew, revoke; expiry on a manual clock, also after a restart of the vault;
//! 50 concurrent issues and a revoke-prefix; bad input that must leave no user and no lease.
//!
//! Needs `STRONGROOM_TEST_POSTGRES_URL` and `STRONGROOM_TEST_MYSQL_URL` (`scripts/services.sh`
//! sets them). Without them the tests say why and pass, unless `STRONGROOM_REQUIRE_SERVICES=1`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

mod common;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use sqlx::Connection as _;
use strongroom_core::{ManualClock, Vault};
use strongroom_storage::{MemoryStorage, Storage};

fn service(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var("STRONGROOM_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "STRONGROOM_REQUIRE_SERVICES=1 but {var} is not set"
            );
            eprintln!("skipped: {var} is not set");
            None
        }
    }
}

struct Setup {
    vault: Vault,
    root: String,
    key: String,
    clock: Arc<ManualClock>,
    storage: Arc<dyn Storage>,
}

async fn vault_over(storage: Arc<dyn Storage>, clock: Arc<ManualClock>) -> Vault {
    Vault::builder(storage)
        .clock(clock)
        .background_expiry(false)
        .build()
}

async fn setup() -> Setup {
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let vault = vault_over(Arc::clone(&storage), clock.clone()).await;
    let (root, key) = common::unsealed_with(&vault, "database").await;
    Setup {
        vault,
        root,
        key,
        clock,
        storage,
    }
}

/// The user URL for PostgreSQL: the admin URL with the user's name and password.
fn pg_user_url(admin: &str, user: &str, password: &str) -> String {
    let rest = admin.split_once('@').map_or(admin, |(_, rest)| rest);
    format!("postgres://{user}:{password}@{rest}")
}

async fn pg_login(admin: &str, user: &str, password: &str) -> bool {
    match sqlx::PgConnection::connect(&pg_user_url(admin, user, password)).await {
        Ok(mut conn) => {
            let one: (i32,) = sqlx::query_as("SELECT 1")
                .fetch_one(&mut conn)
                .await
                .unwrap();
            assert_eq!(one.0, 1);
            true
        }
        Err(_) => false,
    }
}

async fn pg_roles_like(admin: &str, prefix: &str) -> Vec<(String, Option<String>)> {
    let mut conn = sqlx::PgConnection::connect(admin).await.unwrap();
    sqlx::query_as(
        "SELECT rolname::text, rolvaliduntil::text FROM pg_roles WHERE rolname LIKE $1 ORDER BY 1",
    )
    .bind(format!("{prefix}%"))
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

async fn creds(s: &Setup, role: &str) -> (String, String, String) {
    let response = s
        .vault
        .read(&s.root, &format!("database/creds/{role}"))
        .await
        .unwrap_or_else(|e| panic!("creds/{role}: {e}"));
    let data = response.data.unwrap();
    (
        data["username"].as_str().unwrap().to_owned(),
        data["password"].as_str().unwrap().to_owned(),
        response.lease_id,
    )
}

const PG_CREATE: &str = r#"CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}'; GRANT CONNECT ON DATABASE test TO "{{name}}";"#;

async fn pg_setup(admin: &str, role: &str, ttl: &str) -> Setup {
    // Leftovers of an earlier, interrupted run of this role.
    for (name, _) in pg_roles_like(admin, &format!("v-{role}-")).await {
        let mut conn = sqlx::PgConnection::connect(admin).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP OWNED BY \"{name}\"; DROP ROLE IF EXISTS \"{name}\""
        )))
        .execute(&mut conn)
        .await
        .unwrap();
    }
    let s = setup().await;
    s.vault
        .write(
            &s.root,
            "database/config/pg",
            json!({
                "plugin_name": "postgresql-database-plugin",
                "connection_url": admin,
                "allowed_roles": "*",
            }),
        )
        .await
        .unwrap();
    s.vault
        .write(
            &s.root,
            &format!("database/roles/{role}"),
            json!({"db_name": "pg", "creation_statements": [PG_CREATE], "default_ttl": ttl, "max_ttl": "24h"}),
        )
        .await
        .unwrap();
    s
}

#[tokio::test]
async fn postgres_issue_login_renew_revoke() {
    let Some(admin) = service("STRONGROOM_TEST_POSTGRES_URL") else {
        return;
    };
    let s = pg_setup(&admin, "app", "1h").await;
    let (user, password, lease) = creds(&s, "app").await;
    assert!(user.starts_with("v-app-") && user.len() <= 63, "{user}");
    assert!(
        pg_login(&admin, &user, &password).await,
        "the new user logs in"
    );
    let before = pg_roles_like(&admin, &user).await[0].1.clone().unwrap();

    // Renew: the role's VALID UNTIL moves.
    s.clock.advance(Duration::from_secs(600));
    s.vault
        .write(
            &s.root,
            "sys/leases/renew",
            json!({"lease_id": lease, "increment": 7200}),
        )
        .await
        .unwrap();
    let after = pg_roles_like(&admin, &user).await[0].1.clone().unwrap();
    assert_ne!(before, after, "renew runs the renew statements");

    // Revoke: the role is gone and cannot log in.
    s.vault
        .write(&s.root, "sys/leases/revoke", json!({"lease_id": lease}))
        .await
        .unwrap();
    assert!(pg_roles_like(&admin, &user).await.is_empty());
    assert!(!pg_login(&admin, &user, &password).await);
}

#[tokio::test]
async fn postgres_expiry_also_after_a_restart() {
    let Some(admin) = service("STRONGROOM_TEST_POSTGRES_URL") else {
        return;
    };
    let s = pg_setup(&admin, "short", "30s").await;
    let (first, _, _) = creds(&s, "short").await;
    s.clock.advance(Duration::from_secs(31));
    s.vault.expire_leases(100).await.unwrap();
    assert!(
        pg_roles_like(&admin, &first).await.is_empty(),
        "expired: dropped"
    );

    // Issue, restart the vault from the same storage, let the lease expire: dropped.
    let (second, _, _) = creds(&s, "short").await;
    assert_eq!(pg_roles_like(&admin, &second).await.len(), 1);
    s.vault.seal().await;
    let restarted = vault_over(Arc::clone(&s.storage), s.clock.clone()).await;
    restarted.unseal(&s.key).await.unwrap();
    s.clock.advance(Duration::from_secs(31));
    restarted.expire_leases(100).await.unwrap();
    assert!(
        pg_roles_like(&admin, &second).await.is_empty(),
        "dropped after the restart"
    );
}

#[tokio::test]
async fn postgres_fifty_concurrent_and_revoke_prefix() {
    let Some(admin) = service("STRONGROOM_TEST_POSTGRES_URL") else {
        return;
    };
    let s = Arc::new(pg_setup(&admin, "many", "1h").await);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let s = Arc::clone(&s);
        tasks.spawn(async move { creds(&s, "many").await });
    }
    let mut users = Vec::new();
    while let Some(done) = tasks.join_next().await {
        users.push(done.unwrap());
    }
    let distinct: std::collections::BTreeSet<_> = users.iter().map(|u| u.0.clone()).collect();
    assert_eq!(distinct.len(), 50);
    for (user, password, _) in users.iter().take(5) {
        assert!(pg_login(&admin, user, password).await);
    }
    assert_eq!(pg_roles_like(&admin, "v-many-").await.len(), 50);
    s.vault
        .write(
            &s.root,
            "sys/leases/revoke-prefix/database/creds/many",
            json!({}),
        )
        .await
        .unwrap();
    assert!(pg_roles_like(&admin, "v-many-").await.is_empty());
}

#[tokio::test]
async fn postgres_bad_input_leaves_nothing_behind() {
    let Some(admin) = service("STRONGROOM_TEST_POSTGRES_URL") else {
        return;
    };
    let s = pg_setup(&admin, "ok", "1h").await;
    let leases = |s: &Setup| {
        let vault = s.vault.clone();
        let root = s.root.clone();
        async move {
            vault
                .list(&root, "sys/leases/lookup/database/creds/")
                .await
                .ok()
                .and_then(|r| r.data)
                .map_or(0, |d| d["keys"].as_array().map_or(0, Vec::len))
        }
    };

    // An unreachable database: a bounded, clear error.
    let started = std::time::Instant::now();
    let err = s
        .vault
        .write(
            &s.root,
            "database/config/down",
            json!({"plugin_name": "postgresql-database-plugin", "connection_url": "postgres://x@127.0.0.1:1/none"}),
        )
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("connecting to the database"),
        "{err}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    // Statements that fail halfway: the transaction rolls back, no user, no lease.
    s.vault
        .write(
            &s.root,
            "database/roles/broken",
            json!({"db_name": "pg", "creation_statements": [
                r#"CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}'; GRANT nonexistent_role TO "{{name}}";"#
            ]}),
        )
        .await
        .unwrap();
    let before = leases(&s).await;
    let err = s
        .vault
        .read(&s.root, "database/creds/broken")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("nonexistent_role"), "{err}");
    assert!(
        pg_roles_like(&admin, "v-broken-").await.is_empty(),
        "rolled back"
    );
    assert_eq!(leases(&s).await, before, "no lease");

    // A role the connection does not allow; malformed names.
    s.vault
        .write(
            &s.root,
            "database/config/narrow",
            json!({"plugin_name": "postgresql-database-plugin", "connection_url": admin, "allowed_roles": ["only-this"]}),
        )
        .await
        .unwrap();
    s.vault
        .write(
            &s.root,
            "database/roles/other",
            json!({"db_name": "narrow", "creation_statements": [PG_CREATE]}),
        )
        .await
        .unwrap();
    let err = s
        .vault
        .read(&s.root, "database/creds/other")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not an allowed role"), "{err}");
    for bad in ["database/roles/x;drop", "database/roles/a%20b"] {
        assert!(
            s.vault
                .write(
                    &s.root,
                    bad,
                    json!({"db_name": "pg", "creation_statements": ["x"]})
                )
                .await
                .is_err(),
            "{bad}"
        );
    }
    // The admin password is never read back.
    let read = s
        .vault
        .read(&s.root, "database/config/pg")
        .await
        .unwrap()
        .data
        .unwrap();
    assert!(read.get("password").is_none());
    assert_eq!(read["plugin_name"], "postgresql-database-plugin");
    let _: &Value = &read["connection_details"];
}

#[tokio::test]
async fn mariadb_issue_login_revoke() {
    let Some(admin) = service("STRONGROOM_TEST_MYSQL_URL") else {
        return;
    };
    let s = setup().await;
    s.vault
        .write(
            &s.root,
            "database/config/maria",
            json!({"plugin_name": "mysql-database-plugin", "connection_url": admin, "allowed_roles": "*"}),
        )
        .await
        .unwrap();
    s.vault
        .write(
            &s.root,
            "database/roles/app",
            json!({"db_name": "maria", "default_ttl": "1h", "creation_statements":
                "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'; GRANT SELECT ON test.* TO '{{name}}'@'%';"}),
        )
        .await
        .unwrap();
    let (user, password, lease) = creds(&s, "app").await;
    assert!(user.len() <= 32, "{user}");
    let rest = admin
        .split_once('@')
        .map_or(admin.as_str(), |(_, rest)| rest);
    let url = |pw: &str| format!("mysql://{user}:{pw}@{rest}");
    let mut conn = sqlx::MySqlConnection::connect(&url(&password))
        .await
        .unwrap();
    let one: (i64,) = sqlx::query_as("SELECT 1")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(one.0, 1);
    drop(conn);
    assert!(sqlx::MySqlConnection::connect(&url("wrong")).await.is_err());
    s.vault
        .write(&s.root, "sys/leases/revoke", json!({"lease_id": lease}))
        .await
        .unwrap();
    assert!(
        sqlx::MySqlConnection::connect(&url(&password))
            .await
            .is_err(),
        "revoked: the user is gone"
    );

    // MySQL commits CREATE USER at once: when a later statement fails, the default rollback
    // (no rollback_statements given) removes the user, and no lease is made.
    s.vault
        .write(
            &s.root,
            "database/roles/half",
            json!({"db_name": "maria", "creation_statements":
                "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}'; GRANT BOGUS ON test.* TO '{{name}}'@'%';"}),
        )
        .await
        .unwrap();
    assert!(s.vault.read(&s.root, "database/creds/half").await.is_err());
    let mut root = sqlx::MySqlConnection::connect(&admin).await.unwrap();
    let left: Vec<(String,)> =
        sqlx::query_as("SELECT User FROM mysql.user WHERE User LIKE 'v-half-%'")
            .fetch_all(&mut root)
            .await
            .unwrap();
    assert!(left.is_empty(), "left behind: {left:?}");
}

/// `rotate-root` on MariaDB with a dedicated admin account: afterwards the old admin password
/// no longer logs in, and the engine still issues credentials with the password only it knows.
#[tokio::test]
async fn mariadb_rotate_root() {
    let Some(root_url) = service("STRONGROOM_TEST_MYSQL_URL") else {
        return;
    };
    let rest = root_url
        .split_once('@')
        .map_or(root_url.as_str(), |(_, rest)| rest)
        .to_owned();
    let admin = format!("sr_admin_{}", std::process::id());
    let mut root = sqlx::MySqlConnection::connect(&root_url).await.unwrap();
    for statement in [
        format!("DROP USER IF EXISTS '{admin}'@'%'"),
        format!("CREATE USER '{admin}'@'%' IDENTIFIED BY 'Initial-Pass1'"),
        format!("GRANT ALL PRIVILEGES ON *.* TO '{admin}'@'%' WITH GRANT OPTION"),
    ] {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
            .execute(&mut root)
            .await
            .unwrap();
    }
    let s = setup().await;
    s.vault
        .write(
            &s.root,
            "database/config/maria-admin",
            json!({
                "plugin_name": "mysql-database-plugin",
                "connection_url": format!("mysql://{{{{username}}}}:{{{{password}}}}@{rest}"),
                "username": admin,
                "password": "Initial-Pass1",
                "allowed_roles": ["rot"],
            }),
        )
        .await
        .unwrap();
    s.vault
        .write(
            &s.root,
            "database/roles/rot",
            json!({"db_name": "maria-admin", "creation_statements":
                "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';"}),
        )
        .await
        .unwrap();
    s.vault
        .write(&s.root, "database/rotate-root/maria-admin", json!({}))
        .await
        .unwrap();
    let old = format!("mysql://{admin}:Initial-Pass1@{rest}");
    assert!(
        sqlx::MySqlConnection::connect(&old).await.is_err(),
        "the old admin password must stop working"
    );
    let (user, _, lease) = creds(&s, "rot").await;
    assert!(user.starts_with("v-rot-"));
    s.vault
        .write(&s.root, "sys/leases/revoke", json!({"lease_id": lease}))
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP USER IF EXISTS '{admin}'@'%'"
    )))
    .execute(&mut root)
    .await
    .unwrap();
}
