//! The database engine through the core against the real PostgreSQL and MariaDB on this machine
//! (never a mock), where the core takes part: issue, log in, renew, revoke (leases); expiry on a
//! manual clock, also after a restart of the vault; 50 concurrent issues and a revoke-prefix; bad
//! input that must leave no user and no lease; static roles rotated by the core's periodic pass
//! on a period, a cron schedule with a window, and on demand, with a test login before success
//! and an alert (the old password kept) when it fails; username templates; a failed creation that
//! leaves the existing user and makes no lease. What needs no core (static-role bad input, a
//! changed connection target, failed PostgreSQL creations, TLS) is tested in
//! `strongroom-database` (`tests/connections.rs`).
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
use strongroom_database::testing::{
    PG_CREATE, pg_exec, pg_login, pg_roles_like, pg_static_user, service,
};
use strongroom_rotation::{AlertKind, MemorySink, Step};
use strongroom_storage::{MemoryStorage, Storage};

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
