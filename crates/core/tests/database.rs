//! The database engine against the real PostgreSQL and MariaDB on this machine (never a mock):
//! issue, log in, renew, revoke; expiry on a manual clock, also after a restart of the vault;
//! 50 concurrent issues and a revoke-prefix; bad input that must leave no user and no lease;
//! static roles rotated on a period, a cron schedule with a window, and on demand, with a test
//! login before success and an alert (the old password kept) when it fails; username
//! templates.
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
use strongroom_core::{ManualClock, Vault, VaultError};
use strongroom_rotation::{AlertKind, MemorySink, Step};
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
    alerts: Arc<MemorySink>,
}

async fn vault_over(
    storage: Arc<dyn Storage>,
    clock: Arc<ManualClock>,
    alerts: Arc<MemorySink>,
) -> Vault {
    Vault::builder(storage)
        .clock(clock)
        .rotation_alerts(alerts)
        .background_expiry(false)
        .build()
        .unwrap()
}

async fn setup() -> Setup {
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let storage: Arc<dyn Storage> = Arc::new(MemoryStorage::new());
    let alerts = Arc::new(MemorySink::default());
    let vault = vault_over(Arc::clone(&storage), clock.clone(), alerts.clone()).await;
    let (root, key) = common::unsealed_with(&vault, "database").await;
    Setup {
        vault,
        root,
        key,
        clock,
        storage,
        alerts,
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

/// Members of `strongroom_password_auth` must log in with their password (`scripts/services.sh`
/// sets that up: the machine's PostgreSQL otherwise trusts loopback logins).
const PG_CREATE: &str = r#"CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' IN ROLE strongroom_password_auth; GRANT CONNECT ON DATABASE test TO "{{name}}";"#;

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
    let restarted = vault_over(Arc::clone(&s.storage), s.clock.clone(), s.alerts.clone()).await;
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

async fn pg_exec(admin: &str, statements: &str) {
    let mut conn = sqlx::PgConnection::connect(admin).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(statements.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
}

/// A fresh existing user `<prefix>_<pid>` with the password `Initial-Pass1`.
async fn pg_static_user(admin: &str, prefix: &str) -> String {
    let user = format!("{prefix}_{}", std::process::id());
    pg_exec(
        admin,
        &format!(
            "DROP ROLE IF EXISTS {user}; CREATE ROLE {user} WITH LOGIN PASSWORD 'Initial-Pass1' \
             IN ROLE strongroom_password_auth"
        ),
    )
    .await;
    user
}

async fn static_creds(s: &Setup, role: &str) -> serde_json::Map<String, Value> {
    s.vault
        .read(&s.root, &format!("database/static-creds/{role}"))
        .await
        .unwrap_or_else(|e| panic!("static-creds/{role}: {e}"))
        .data
        .unwrap()
}

fn password_of(creds: &serde_json::Map<String, Value>) -> String {
    creds["password"].as_str().unwrap().to_owned()
}

fn test_failures(s: &Setup, role: &str) -> usize {
    s.alerts
        .alerts()
        .iter()
        .filter(|a| {
            a.secret == role
                && matches!(
                    a.kind,
                    AlertKind::StepFailed {
                        step: Step::Test,
                        ..
                    }
                )
        })
        .count()
}

/// A static role on PostgreSQL: the password is rotated when the role is made, on its period
/// (driven by the engine's periodic function on the vault's clock), on `rotate-role`, and after
/// a restart of the vault; each time the old password stops working and the new one logs in.
/// A rotation whose test login fails keeps the old password (in the database too) and alerts.
#[tokio::test]
async fn postgres_static_role_rotation() {
    let Some(admin) = service("STRONGROOM_TEST_POSTGRES_URL") else {
        return;
    };
    let user = pg_static_user(&admin, "sr_static").await;
    let s = pg_setup(&admin, "dyn", "1h").await;
    s.vault
        .write(
            &s.root,
            "database/static-roles/app",
            json!({"db_name": "pg", "username": user, "rotation_period": "1h"}),
        )
        .await
        .unwrap();
    // Made: rotated at once (Vault's import rotation).
    assert!(!pg_login(&admin, &user, "Initial-Pass1").await);
    let first = static_creds(&s, "app").await;
    assert_eq!(first["username"], json!(user));
    assert_eq!(first["rotation_period"], json!(3600));
    // The engine's clock is the vault's (manual) clock plus the real time since the request
    // began, so a slow machine may add a few seconds.
    let ttl = first["ttl"].as_u64().unwrap();
    assert!((3590..=3660).contains(&ttl), "{ttl}");
    assert!(
        first["last_vault_rotation"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    let p1 = password_of(&first);
    assert!(pg_login(&admin, &user, &p1).await);
    let role = s
        .vault
        .read(&s.root, "database/static-roles/app")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(role["username"], json!(user));
    assert_eq!(role["credential_type"], json!("password"));
    assert_eq!(
        s.vault
            .list(&s.root, "database/static-roles")
            .await
            .unwrap()
            .data
            .unwrap()["keys"],
        json!(["app"])
    );

    // Not due yet: nothing happens. Due: the periodic function rotates it.
    s.clock.advance(Duration::from_secs(1800));
    s.vault.run_periodic().await.unwrap();
    assert_eq!(password_of(&static_creds(&s, "app").await), p1);
    s.clock.advance(Duration::from_secs(1801));
    assert_eq!(s.vault.run_periodic().await.unwrap(), 0);
    let p2 = password_of(&static_creds(&s, "app").await);
    assert_ne!(p1, p2);
    assert!(
        !pg_login(&admin, &user, &p1).await,
        "the old password stops"
    );
    assert!(pg_login(&admin, &user, &p2).await, "the new one works");

    // On demand.
    s.vault
        .write(&s.root, "database/rotate-role/app", json!({}))
        .await
        .unwrap();
    let p3 = password_of(&static_creds(&s, "app").await);
    assert_ne!(p2, p3);
    assert!(!pg_login(&admin, &user, &p2).await);
    assert!(pg_login(&admin, &user, &p3).await);

    // A rotation whose test login fails (the account may not log in): refused, alerted, and the
    // database is given the old password back.
    pg_exec(&admin, &format!("ALTER ROLE {user} NOLOGIN")).await;
    let err = s
        .vault
        .write(&s.root, "database/rotate-role/app", json!({}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("current password stays"), "{err}");
    assert_eq!(test_failures(&s, "app"), 1, "{:?}", s.alerts.alerts());
    assert_eq!(password_of(&static_creds(&s, "app").await), p3);
    let role = s
        .vault
        .read(&s.root, "database/static-roles/app")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(role["rotation_failures"], json!(1));
    assert!(role["last_rotation_error"].as_str().is_some());
    for alert in s.alerts.alerts() {
        let text = serde_json::to_string(&alert).unwrap();
        assert!(!text.contains(&p3), "an alert carries a password: {text}");
    }
    pg_exec(&admin, &format!("ALTER ROLE {user} LOGIN")).await;
    assert!(
        pg_login(&admin, &user, &p3).await,
        "the old password still works"
    );
    // The retry, after the backoff, succeeds.
    s.clock.advance(Duration::from_secs(11));
    s.vault.run_periodic().await.unwrap();
    let p4 = password_of(&static_creds(&s, "app").await);
    assert_ne!(p3, p4);
    assert!(pg_login(&admin, &user, &p4).await);

    // A restart of the vault: the same password, and the schedule resumes.
    s.vault.seal().await;
    let restarted = vault_over(Arc::clone(&s.storage), s.clock.clone(), s.alerts.clone()).await;
    restarted.unseal(&s.key).await.unwrap();
    let creds = restarted
        .read(&s.root, "database/static-creds/app")
        .await
        .unwrap()
        .data
        .unwrap();
    assert_eq!(password_of(&creds), p4);
    s.clock.advance(Duration::from_secs(3601));
    restarted.run_periodic().await.unwrap();
    let creds = restarted
        .read(&s.root, "database/static-creds/app")
        .await
        .unwrap()
        .data
        .unwrap();
    let p5 = password_of(&creds);
    assert_ne!(p4, p5, "rotated on schedule after the restart");
    assert!(pg_login(&admin, &user, &p5).await);

    // Deleted: no more credentials; the database user stays (as in Vault).
    restarted
        .delete(&s.root, "database/static-roles/app")
        .await
        .unwrap();
    assert!(
        restarted
            .read(&s.root, "database/static-creds/app")
            .await
            .is_err()
    );
    assert!(pg_login(&admin, &user, &p5).await);
    pg_exec(&admin, &format!("DROP ROLE IF EXISTS {user}")).await;
}

/// A cron `rotation_schedule` with a `rotation_window`: rotated inside the window; a window
/// missed entirely (the vault was down) waits for the next occurrence, with an alert.
#[tokio::test]
async fn postgres_static_role_cron_schedule_and_window() {
    let Some(admin) = service("STRONGROOM_TEST_POSTGRES_URL") else {
        return;
    };
    let user = pg_static_user(&admin, "sr_cron").await;
    let s = pg_setup(&admin, "dyn2", "1h").await;
    s.vault
        .write(
            &s.root,
            "database/static-roles/hourly",
            json!({"db_name": "pg", "username": user, "rotation_schedule": "0 * * * *",
                   "rotation_window": "1h"}),
        )
        .await
        .unwrap();
    let first = static_creds(&s, "hourly").await;
    assert_eq!(first["rotation_schedule"], json!("0 * * * *"));
    assert_eq!(first["rotation_window"], json!(3600));
    assert!(first.get("rotation_period").is_none());
    let ttl = first["ttl"].as_u64().unwrap();
    assert!(ttl <= 3600, "until the next full hour: {ttl}");
    // At the next full hour (inside the window): rotated.
    s.clock.advance(Duration::from_secs(ttl + 30));
    s.vault.run_periodic().await.unwrap();
    let second = static_creds(&s, "hourly").await;
    assert_ne!(password_of(&first), password_of(&second));
    assert!(pg_login(&admin, &user, &password_of(&second)).await);
    // The vault misses the next hour and its whole window: no rotation, a Missed alert, and
    // the next full hour is due.
    let ttl = second["ttl"].as_u64().unwrap();
    s.clock.advance(Duration::from_secs(ttl + 3600 + 60));
    s.vault.run_periodic().await.unwrap();
    let third = static_creds(&s, "hourly").await;
    assert_eq!(
        password_of(&second),
        password_of(&third),
        "missed: not rotated"
    );
    assert!(
        s.alerts
            .alerts()
            .iter()
            .any(|a| a.secret == "hourly" && matches!(a.kind, AlertKind::Missed { .. })),
        "{:?}",
        s.alerts.alerts()
    );
    assert!(third["ttl"].as_u64().unwrap() <= 3600);
    pg_exec(&admin, &format!("DROP ROLE IF EXISTS {user}")).await;
}

/// Static roles refuse bad input before anything happens: unknown database, roles outside
/// `allowed_roles`, names that could inject SQL, periods below Vault's minimum, conflicting
/// schedules, a user already managed; an initial rotation that fails leaves no role behind.
#[tokio::test]
async fn postgres_static_role_bad_input() {
    let Some(admin) = service("STRONGROOM_TEST_POSTGRES_URL") else {
        return;
    };
    let user = pg_static_user(&admin, "sr_bad").await;
    let s = pg_setup(&admin, "dyn3", "1h").await;
    s.vault
        .write(
            &s.root,
            "database/config/narrow",
            json!({"plugin_name": "postgresql-database-plugin", "connection_url": admin,
                   "allowed_roles": ["only-this"]}),
        )
        .await
        .unwrap();
    let write = |name: &'static str, body: Value| {
        let vault = s.vault.clone();
        let root = s.root.clone();
        async move {
            vault
                .write(&root, &format!("database/static-roles/{name}"), body)
                .await
        }
    };
    let cases = [
        (
            json!({"db_name": "nope", "username": user, "rotation_period": "1h"}),
            "unknown database",
        ),
        (
            json!({"db_name": "narrow", "username": user, "rotation_period": "1h"}),
            "not an allowed role",
        ),
        (
            json!({"db_name": "pg", "username": "x\"; DROP ROLE postgres; --", "rotation_period": "1h"}),
            "invalid username",
        ),
        (
            json!({"db_name": "pg", "username": user, "rotation_period": "1s"}),
            "5 seconds",
        ),
        (
            json!({"db_name": "pg", "username": user, "rotation_period": "1h", "rotation_schedule": "0 * * * *"}),
            "mutually exclusive",
        ),
        (
            json!({"db_name": "pg", "username": user, "rotation_period": "1h", "rotation_window": "2h"}),
            "only valid with rotation_schedule",
        ),
        (
            json!({"db_name": "pg", "username": user, "rotation_schedule": "0 * * * *", "rotation_window": "10m"}),
            "1h",
        ),
        (
            json!({"db_name": "pg", "username": user, "rotation_schedule": "not cron"}),
            "cron",
        ),
        (
            json!({"db_name": "pg", "username": user}),
            "rotation_period or rotation_schedule",
        ),
        (
            json!({"db_name": "pg", "username": "sr_no_such_user_xyz", "rotation_period": "1h"}),
            "initial password rotation",
        ),
    ];
    for (body, expected) in cases {
        let err = write("bad", body.clone()).await.unwrap_err();
        assert!(err.to_string().contains(expected), "{body}: {err}");
        assert!(
            s.vault
                .read(&s.root, "database/static-roles/bad")
                .await
                .unwrap()
                .data
                .is_none(),
            "{body}: a role was left behind"
        );
    }
    assert!(pg_login(&admin, &user, "Initial-Pass1").await, "untouched");
    write(
        "one",
        json!({"db_name": "pg", "username": user, "rotation_period": "1h"}),
    )
    .await
    .unwrap();
    let err = write(
        "two",
        json!({"db_name": "pg", "username": user, "rotation_period": "1h"}),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("already managed"), "{err}");
    let err = write("one", json!({"username": "someone_else"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot change"), "{err}");
    // An update changes the schedule and keeps the password.
    let before = password_of(&static_creds(&s, "one").await);
    write("one", json!({"rotation_period": "2h"}))
        .await
        .unwrap();
    let after = static_creds(&s, "one").await;
    assert_eq!(password_of(&after), before);
    assert_eq!(after["rotation_period"], json!(7200));
    assert!(
        s.vault
            .write(&s.root, "database/rotate-role/nope", json!({}))
            .await
            .is_err()
    );
    let err = write("one", json!({"db_name": "narrow"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot change"), "{err}");

    // A first rotation whose login fails (the user may not log in): the database already took
    // the new password, so the role is kept (and retried) rather than losing it; once the user
    // may log in, static-creds proves and returns the password the database holds.
    let locked = pg_static_user(&admin, "sr_locked").await;
    pg_exec(&admin, &format!("ALTER ROLE {locked} NOLOGIN")).await;
    let err = write(
        "locked",
        json!({"db_name": "pg", "username": locked, "rotation_period": "1h"}),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("The role is kept"), "{err}");
    assert!(
        s.vault
            .read(&s.root, "database/static-creds/locked")
            .await
            .is_err(),
        "no password logs in yet"
    );
    pg_exec(&admin, &format!("ALTER ROLE {locked} LOGIN")).await;
    let held = s
        .vault
        .read(&s.root, "database/static-creds/locked")
        .await
        .unwrap();
    assert!(
        !held.warnings.is_empty(),
        "the answer says the password is settling"
    );
    let held = password_of(&held.data.unwrap());
    assert!(pg_login(&admin, &locked, &held).await);
    assert!(!pg_login(&admin, &locked, "Initial-Pass1").await);
    // The next rotation settles it.
    s.vault
        .write(&s.root, "database/rotate-role/locked", json!({}))
        .await
        .unwrap();
    let settled = s
        .vault
        .read(&s.root, "database/static-creds/locked")
        .await
        .unwrap();
    assert!(settled.warnings.is_empty());
    let settled = password_of(&settled.data.unwrap());
    assert!(pg_login(&admin, &locked, &settled).await);
    // An imported password must be safe to quote into the statements.
    let err = write(
        "imported",
        json!({"db_name": "pg", "username": "sr_other", "rotation_period": "1h",
               "skip_import_rotation": true, "password": "x'; DROP ROLE postgres; --"}),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("without quotes"), "{err}");
    for name in [&user, &locked] {
        pg_exec(&admin, &format!("DROP ROLE IF EXISTS {name}")).await;
    }
}

/// Username templates (Vault's `username_template`, on the connection or the role): the
/// names follow them and log in; a template producing an invalid name is refused when written.
#[tokio::test]
async fn postgres_username_templates() {
    let Some(admin) = service("STRONGROOM_TEST_POSTGRES_URL") else {
        return;
    };
    let s = pg_setup(&admin, "tmpl", "1h").await;
    s.vault
        .write(
            &s.root,
            "database/config/pg",
            json!({"username_template":
                r#"{{ printf "sr_%s_%s_%s" (.DisplayName | truncate 8) (.RoleName | truncate 8) (random 12) | lowercase }}"#}),
        )
        .await
        .unwrap();
    let (user, password, lease) = creds(&s, "tmpl").await;
    assert!(user.starts_with("sr_"), "{user}");
    assert!(user.contains("_tmpl_"), "{user}");
    assert!(pg_login(&admin, &user, &password).await);
    s.vault
        .write(&s.root, "sys/leases/revoke", json!({"lease_id": lease}))
        .await
        .unwrap();
    assert!(pg_roles_like(&admin, &user).await.is_empty());
    // The role's own template wins.
    s.vault
        .write(
            &s.root,
            "database/roles/tmpl",
            json!({"username_template": "{{ .RoleName | uppercase }}-{{ random 10 }}"}),
        )
        .await
        .unwrap();
    let (user, password, lease) = creds(&s, "tmpl").await;
    assert!(user.starts_with("TMPL-"), "{user}");
    assert!(pg_login(&admin, &user, &password).await);
    s.vault
        .write(&s.root, "sys/leases/revoke", json!({"lease_id": lease}))
        .await
        .unwrap();
    for (template, expected) in [
        (r#"{{ printf "bad name %s" (random 4) }}"#, "invalid name"),
        ("{{ random 100 }}", "invalid name"),
        (r#"x{{ "'; DROP ROLE postgres; --" }}"#, "invalid name"),
        ("{{ .Password }}", "unknown field"),
        ("{{ random 10 ", "unclosed"),
    ] {
        let err = s
            .vault
            .write(
                &s.root,
                "database/roles/tmpl",
                json!({"username_template": template}),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains(expected), "{template}: {err}");
        let err = s
            .vault
            .write(
                &s.root,
                "database/config/pg",
                json!({"username_template": template}),
            )
            .await
            .unwrap_err();
        assert!(err.to_string().contains(expected), "{template}: {err}");
    }
}

/// A static role on MariaDB: rotation on creation and on demand; a failing test login (the
/// account is locked) keeps the old password, in the database too, and alerts.
#[tokio::test]
async fn mariadb_static_role_rotation() {
    let Some(root_url) = service("STRONGROOM_TEST_MYSQL_URL") else {
        return;
    };
    let rest = root_url
        .split_once('@')
        .map_or(root_url.as_str(), |(_, rest)| rest)
        .to_owned();
    let user = format!("sr_st_{}", std::process::id());
    let run = |statement: String| {
        let url = root_url.clone();
        async move {
            let mut root = sqlx::MySqlConnection::connect(&url).await.unwrap();
            sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
                .execute(&mut root)
                .await
                .unwrap();
        }
    };
    run(format!("DROP USER IF EXISTS '{user}'@'%'")).await;
    run(format!(
        "CREATE USER '{user}'@'%' IDENTIFIED BY 'Initial-Pass1'"
    ))
    .await;
    // The user has no privileges on any database: log in without one.
    let host = rest.split_once('/').map_or(rest.as_str(), |(host, _)| host);
    let login = |password: String| {
        let url = format!("mysql://{user}:{password}@{host}");
        async move { sqlx::MySqlConnection::connect(&url).await.is_ok() }
    };
    let s = setup().await;
    s.vault
        .write(
            &s.root,
            "database/config/maria",
            json!({"plugin_name": "mysql-database-plugin", "connection_url": root_url,
                   "allowed_roles": "*"}),
        )
        .await
        .unwrap();
    s.vault
        .write(
            &s.root,
            "database/static-roles/svc",
            json!({"db_name": "maria", "username": user, "rotation_period": 86400}),
        )
        .await
        .unwrap();
    assert!(!login("Initial-Pass1".into()).await);
    let p1 = password_of(&static_creds(&s, "svc").await);
    assert!(login(p1.clone()).await);
    s.vault
        .write(&s.root, "database/rotate-role/svc", json!({}))
        .await
        .unwrap();
    let p2 = password_of(&static_creds(&s, "svc").await);
    assert_ne!(p1, p2);
    assert!(!login(p1).await);
    assert!(login(p2.clone()).await);

    run(format!("ALTER USER '{user}'@'%' ACCOUNT LOCK")).await;
    assert!(
        s.vault
            .write(&s.root, "database/rotate-role/svc", json!({}))
            .await
            .is_err()
    );
    assert_eq!(test_failures(&s, "svc"), 1);
    assert_eq!(password_of(&static_creds(&s, "svc").await), p2);
    run(format!("ALTER USER '{user}'@'%' ACCOUNT UNLOCK")).await;
    assert!(login(p2).await, "the database kept the old password");
    run(format!("DROP USER IF EXISTS '{user}'@'%'")).await;
}

/// Whether anything connected to `listener` (a loopback port nobody else knows) by now. A
/// connection attempt completes the TCP handshake in the kernel's backlog even if it is never
/// accepted, so an attempt made during an earlier request is seen here; the short polling only
/// allows for a straggler.
fn anything_connected(listener: &std::net::TcpListener) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_millis(300);
    loop {
        match listener.accept() {
            Ok(_) => return true,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                if std::time::Instant::now() >= deadline {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(err) => panic!("accept: {err}"),
        }
    }
}

/// The stored admin password is never read back, so a caller who may update a connection but
/// not know its password must not be able to point it somewhere else and receive the password:
/// a changed target (the URL's host, port, database or parameters, or the plugin) needs the
/// password again; it is refused with a 400 before anything is stored or connected to. Changes
/// of the user information only, of `username`, or of other settings keep working without it.
#[tokio::test]
async fn postgres_config_target_change_needs_the_password_again() {
    let Some(admin) = service("STRONGROOM_TEST_POSTGRES_URL") else {
        return;
    };
    let (userinfo, rest) = admin
        .split_once("://")
        .and_then(|(_, tail)| tail.split_once('@'))
        .unwrap();
    let admin_user = userinfo.split(':').next().unwrap().to_owned();
    let rest = rest.to_owned();
    let templated = format!("postgres://{{{{username}}}}:{{{{password}}}}@{rest}");
    let s = setup().await;
    // (This machine's PostgreSQL trusts loopback logins for the admin, so any password works.)
    s.vault
        .write(
            &s.root,
            "database/config/pg",
            json!({"plugin_name": "postgresql-database-plugin", "connection_url": templated,
                   "username": admin_user, "password": "Stored-Admin-Secret-1",
                   "allowed_roles": "*"}),
        )
        .await
        .unwrap();
    let stored = |vault: Vault, root: String| async move {
        vault
            .read(&root, "database/config/pg")
            .await
            .unwrap()
            .data
            .unwrap()
    };
    let before = stored(s.vault.clone(), s.root.clone()).await;
    assert_eq!(before["connection_details"]["connection_url"], templated);

    // A listener of the test's own: proof that nothing connects to the new target.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let elsewhere = format!("postgres://{{{{username}}}}:{{{{password}}}}@127.0.0.1:{port}/test");
    for body in [
        json!({"connection_url": elsewhere}),
        json!({"connection_url": elsewhere, "verify_connection": false}),
        json!({"connection_url": "postgres://{{username}}:{{password}}@127.0.0.1:1/test",
               "verify_connection": false}),
        json!({"connection_url": format!("{templated}?host=127.0.0.1&port={port}"),
               "verify_connection": false}),
        json!({"connection_url": format!("postgres://{{{{username}}}}:{{{{password}}}}@{rest}?sslmode=disable")}),
        json!({"plugin_name": "mysql-database-plugin", "verify_connection": false}),
        json!({"connection_url": elsewhere, "password": null, "verify_connection": false}),
    ] {
        let started = std::time::Instant::now();
        let err = s
            .vault
            .write(&s.root, "database/config/pg", body.clone())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, VaultError::Logical(e) if e.kind() == strongroom_logical::ErrorKind::InvalidRequest),
            "{body}: {err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains("'password' must be given again")
                && message.contains("connection target changed"),
            "{body}: {message}"
        );
        assert!(!message.contains("Stored-Admin-Secret-1"), "{message}");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{body}: refused before connecting"
        );
        assert!(
            !anything_connected(&listener),
            "{body}: something connected"
        );
        assert_eq!(
            stored(s.vault.clone(), s.root.clone()).await,
            before,
            "{body}: the config changed"
        );
    }

    // The same target: other user information, another username, other settings — no
    // password needed, as before.
    for body in [
        json!({"connection_url": format!("postgres://{admin_user}@{rest}")}),
        json!({"connection_url": templated}),
        json!({"username": admin_user, "allowed_roles": ["app"]}),
    ] {
        s.vault
            .write(&s.root, "database/config/pg", body.clone())
            .await
            .unwrap_or_else(|e| panic!("{body}: {e}"));
    }
    assert_eq!(
        stored(s.vault.clone(), s.root.clone()).await["allowed_roles"],
        json!(["app"])
    );

    // With the password given again, the new target is accepted (not verified: nothing
    // answers there).
    s.vault
        .write(
            &s.root,
            "database/config/pg",
            json!({"connection_url": elsewhere, "password": "A-New-Admin-Pass-2",
                   "verify_connection": false}),
        )
        .await
        .unwrap();
    assert_eq!(
        stored(s.vault.clone(), s.root.clone()).await["connection_details"]["connection_url"],
        elsewhere
    );
    assert!(!anything_connected(&listener));
    // And back, with the password again, verified against the real database.
    s.vault
        .write(
            &s.root,
            "database/config/pg",
            json!({"connection_url": templated, "password": "Stored-Admin-Secret-1"}),
        )
        .await
        .unwrap();

    // A connection holding no password has none to protect: its target may change freely.
    s.vault
        .write(
            &s.root,
            "database/config/open",
            json!({"plugin_name": "postgresql-database-plugin", "connection_url": admin}),
        )
        .await
        .unwrap();
    s.vault
        .write(
            &s.root,
            "database/config/open",
            json!({"connection_url": format!("postgres://x@127.0.0.1:{port}/test"),
                   "verify_connection": false}),
        )
        .await
        .unwrap();
    assert!(!anything_connected(&listener));
}

async fn mysql_exec(root_url: &str, statement: String) {
    let mut root = sqlx::MySqlConnection::connect(root_url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement))
        .execute(&mut root)
        .await
        .unwrap();
}

async fn mysql_users_named(root_url: &str, user: &str) -> usize {
    let mut root = sqlx::MySqlConnection::connect(root_url).await.unwrap();
    let rows: Vec<(String,)> = sqlx::query_as("SELECT Host FROM mysql.user WHERE User = ?")
        .bind(user)
        .fetch_all(&mut root)
        .await
        .unwrap();
    rows.len()
}

/// A failed creation rolls back only what this request made. A `username_template` without
/// random parts can name a user that already exists; when the creation fails (the name is
/// taken), the default revocation used to run on that name and DROP the existing user. Now
/// the existing user stays (and keeps its password), whether the failure came at the first
/// statement or later, with the default revocation or the role's rollback statements; a user
/// this request did make before a later statement failed is still removed (MariaDB commits
/// CREATE USER at once).
#[tokio::test]
async fn mariadb_failed_creation_never_drops_an_existing_user() {
    let Some(root_url) = service("STRONGROOM_TEST_MYSQL_URL") else {
        return;
    };
    let rest = root_url
        .split_once('@')
        .map_or(root_url.as_str(), |(_, rest)| rest)
        .to_owned();
    let host = rest.split_once('/').map_or(rest.as_str(), |(host, _)| host);
    let victim = format!("sr_victim_{}", std::process::id());
    let fresh = format!("sr_fresh_{}", std::process::id());
    for user in [&victim, &fresh] {
        mysql_exec(&root_url, format!("DROP USER IF EXISTS '{user}'@'%'")).await;
    }
    mysql_exec(
        &root_url,
        format!("CREATE USER '{victim}'@'%' IDENTIFIED BY 'Victim-Pass1'"),
    )
    .await;
    let victim_logs_in = || {
        let url = format!("mysql://{victim}:Victim-Pass1@{host}");
        async move { sqlx::MySqlConnection::connect(&url).await.is_ok() }
    };
    assert!(victim_logs_in().await);

    let s = setup().await;
    s.vault
        .write(
            &s.root,
            "database/config/maria",
            json!({"plugin_name": "mysql-database-plugin", "connection_url": root_url,
                   "allowed_roles": "*"}),
        )
        .await
        .unwrap();
    let create = "CREATE USER '{{name}}'@'%' IDENTIFIED BY '{{password}}';";
    let create_if_new = "CREATE USER IF NOT EXISTS '{{name}}'@'%' IDENTIFIED BY '{{password}}';";
    let bad_grant = "GRANT BOGUS ON test.* TO '{{name}}'@'%';";
    let drop = "DROP USER IF EXISTS '{{name}}'@'%';";
    let cases = [
        // The name is taken: refused at the first statement.
        (
            "taken-first",
            &victim,
            vec![create, "GRANT SELECT ON test.* TO '{{name}}'@'%';"],
            vec![],
        ),
        // The first statement runs (a no-op on the existing user), a later one fails.
        (
            "taken-later",
            &victim,
            vec![create_if_new, bad_grant],
            vec![],
        ),
        (
            "taken-later-rb",
            &victim,
            vec![create_if_new, bad_grant],
            vec![drop],
        ),
        // This request's own user, made before a later statement failed: removed.
        ("fresh", &fresh, vec![create, bad_grant], vec![]),
        ("fresh-rb", &fresh, vec![create, bad_grant], vec![drop]),
    ];
    for (role, name, creation, rollback) in cases {
        s.vault
            .write(
                &s.root,
                &format!("database/roles/{role}"),
                json!({"db_name": "maria", "username_template": name,
                       "creation_statements": creation, "rollback_statements": rollback}),
            )
            .await
            .unwrap();
        let err = s
            .vault
            .read(&s.root, &format!("database/creds/{role}"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err.kind(),
                strongroom_logical::ErrorKind::InvalidRequest
                    | strongroom_logical::ErrorKind::Internal
            ),
            "{role}: {err:?}"
        );
        assert_eq!(
            mysql_users_named(&root_url, &victim).await,
            1,
            "{role}: the existing user was dropped"
        );
        assert!(
            victim_logs_in().await,
            "{role}: the existing user's password changed"
        );
        assert_eq!(
            mysql_users_named(&root_url, &fresh).await,
            0,
            "{role}: the user this request made was left behind"
        );
    }
    let leases = s
        .vault
        .list(&s.root, "sys/leases/lookup/database/creds/")
        .await
        .ok()
        .and_then(|r| r.data)
        .map_or(0, |d| d["keys"].as_array().map_or(0, Vec::len));
    assert_eq!(leases, 0, "no lease for a failed creation");
    mysql_exec(&root_url, format!("DROP USER IF EXISTS '{victim}'@'%'")).await;
}

/// PostgreSQL: a failed creation whose name belongs to an existing role (a deterministic
/// `username_template`) leaves that role alone — refused at the first statement, or later in
/// the (rolled back) transaction — instead of running the default revocation on it.
#[tokio::test]
async fn postgres_failed_creation_never_drops_an_existing_user() {
    let Some(admin) = service("STRONGROOM_TEST_POSTGRES_URL") else {
        return;
    };
    let victim = pg_static_user(&admin, "sr_victim").await;
    let fresh = format!("sr_fresh_{}", std::process::id());
    pg_exec(&admin, &format!("DROP ROLE IF EXISTS {fresh}")).await;
    let s = pg_setup(&admin, "dyn-victim", "1h").await;
    let cases = [
        ("taken-first", &victim, vec![PG_CREATE]),
        (
            "taken-later",
            &victim,
            vec![
                r#"GRANT CONNECT ON DATABASE test TO "{{name}}"; GRANT nonexistent_role TO "{{name}}";"#,
            ],
        ),
        (
            "fresh",
            &fresh,
            vec![
                r#"CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}'; GRANT nonexistent_role TO "{{name}}";"#,
            ],
        ),
    ];
    for (role, name, creation) in cases {
        s.vault
            .write(
                &s.root,
                &format!("database/roles/{role}"),
                json!({"db_name": "pg", "username_template": name,
                       "creation_statements": creation}),
            )
            .await
            .unwrap();
        let err = s
            .vault
            .read(&s.root, &format!("database/creds/{role}"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err.kind(),
                strongroom_logical::ErrorKind::InvalidRequest
                    | strongroom_logical::ErrorKind::Internal
            ),
            "{role}: {err:?}"
        );
        assert_eq!(
            pg_roles_like(&admin, &victim).await.len(),
            1,
            "{role}: the existing role was dropped"
        );
        assert!(
            pg_login(&admin, &victim, "Initial-Pass1").await,
            "{role}: the existing role cannot log in any more"
        );
        assert!(pg_roles_like(&admin, &fresh).await.is_empty(), "{role}");
    }
    pg_exec(&admin, &format!("DROP ROLE IF EXISTS {victim}")).await;
}

/// A server that answers PostgreSQL's TLS request with "no TLS here" and records whether the
/// client then goes on in plaintext (sends its startup message, user name included).
async fn plaintext_only_postgres() -> (String, Arc<std::sync::atomic::AtomicBool>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let plaintext = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = plaintext.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let seen = seen.clone();
            tokio::spawn(async move {
                let mut request = [0; 8];
                if socket.read_exact(&mut request).await.is_err() {
                    return;
                }
                // SSLRequest: length 8, code 80877103.
                if request != [0, 0, 0, 8, 4, 210, 22, 47] {
                    seen.store(true, std::sync::atomic::Ordering::SeqCst);
                    return;
                }
                let _ = socket.write_all(b"N").await;
                let mut more = [0; 1];
                let next = tokio::time::timeout(Duration::from_secs(2), socket.read(&mut more));
                if matches!(next.await, Ok(Ok(n)) if n > 0) {
                    seen.store(true, std::sync::atomic::Ordering::SeqCst);
                }
            });
        }
    });
    (format!("127.0.0.1:{}", addr.port()), plaintext)
}

/// Without `sslmode` the engine needs TLS (the driver's default, `prefer`, would go on in
/// plaintext when TLS is refused); an explicit weak mode is honoured with a warning.
#[tokio::test]
async fn connections_need_tls_unless_the_url_says_otherwise() {
    let Some(admin) = service("STRONGROOM_TEST_POSTGRES_URL") else {
        return;
    };
    let Some(maria) = service("STRONGROOM_TEST_MYSQL_URL") else {
        return;
    };
    let s = setup().await;
    let (fake, plaintext) = plaintext_only_postgres().await;
    let err = s
        .vault
        .write(
            &s.root,
            "database/config/strip",
            json!({"plugin_name": "postgresql-database-plugin",
                   "connection_url": format!("postgres://{{{{username}}}}:{{{{password}}}}@{fake}/test"),
                   "username": "admin", "password": "pw"}),
        )
        .await
        .unwrap_err();
    assert!(!err.to_string().contains("pw"), "{err}");
    assert!(
        !plaintext.load(std::sync::atomic::Ordering::SeqCst),
        "the client went on without TLS"
    );

    // The real PostgreSQL here speaks TLS: the default works, without a warning.
    let tls_url = admin.split('?').next().unwrap().to_owned();
    let response = s
        .vault
        .write(
            &s.root,
            "database/config/pg",
            json!({"plugin_name": "postgresql-database-plugin", "connection_url": tls_url}),
        )
        .await
        .unwrap();
    assert!(response.warnings.is_empty(), "{:?}", response.warnings);
    let response = s
        .vault
        .write(
            &s.root,
            "database/config/pg",
            json!({"connection_url": format!("{tls_url}?sslmode=disable")}),
        )
        .await
        .unwrap();
    assert!(
        response.warnings.iter().any(|w| w.contains("plaintext")),
        "{:?}",
        response.warnings
    );

    // The MariaDB here has no TLS: without ssl-mode the engine refuses to connect; the
    // URL's explicit ssl-mode=disabled connects, with a warning.
    let bare = maria.split('?').next().unwrap().to_owned();
    let refused = s
        .vault
        .write(
            &s.root,
            "database/config/maria",
            json!({"plugin_name": "mysql-database-plugin", "connection_url": bare}),
        )
        .await;
    assert!(refused.is_err(), "{refused:?}");
    let response = s
        .vault
        .write(
            &s.root,
            "database/config/maria",
            json!({"plugin_name": "mysql-database-plugin", "connection_url": format!("{bare}?ssl-mode=disabled")}),
        )
        .await
        .unwrap();
    assert!(
        response.warnings.iter().any(|w| w.contains("plaintext")),
        "{:?}",
        response.warnings
    );
}
