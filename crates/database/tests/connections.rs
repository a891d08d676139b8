//! The database engine driven directly (no core) against the real PostgreSQL and MariaDB on this
//! machine (never a mock): static-role input that must change nothing, a connection whose target
//! changes needing its password again (refused before anything connects), failed creations that
//! never drop an existing user, and TLS required unless the URL says otherwise. (Moved from
//! `strongroom-core`'s tests; what needs leases, tokens or the core's scheduler stays there.)
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

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use sqlx::Connection as _;
use strongroom_database::Database;
use strongroom_database::testing::{
    PG_CREATE, pg_exec, pg_login, pg_roles_like, pg_static_user, service,
};
use strongroom_logical::testing::{call, context};
use strongroom_logical::{Context, ErrorKind, LogicalError, Operation, Response};

struct Setup {
    db: Database,
    ctx: Context,
}

fn setup() -> Setup {
    Setup {
        db: Database::default(),
        ctx: context("database/"),
    }
}

async fn update(s: &Setup, path: &str, body: Value) -> Result<Response, LogicalError> {
    call(&s.db, &s.ctx, Operation::Update, path, body).await
}

async fn read(s: &Setup, path: &str) -> Result<Response, LogicalError> {
    call(&s.db, &s.ctx, Operation::Read, path, json!({})).await
}

/// The stored connection `pg`, as a read shows it.
async fn stored(s: &Setup) -> Map<String, Value> {
    read(s, "config/pg").await.unwrap().data.unwrap()
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
    let s = setup();
    update(
        &s,
        "config/pg",
        json!({
            "plugin_name": "postgresql-database-plugin",
            "connection_url": admin,
            "allowed_roles": "*",
        }),
    )
    .await
    .unwrap();
    update(&s, &format!("roles/{role}"),
            json!({"db_name": "pg", "creation_statements": [PG_CREATE], "default_ttl": ttl, "max_ttl": "24h"}),
        )
        .await
        .unwrap();
    s
}

async fn static_creds(s: &Setup, role: &str) -> Map<String, Value> {
    read(s, &format!("static-creds/{role}"))
        .await
        .unwrap_or_else(|e| panic!("static-creds/{role}: {e}"))
        .data
        .unwrap()
}

fn password_of(creds: &Map<String, Value>) -> String {
    creds["password"].as_str().unwrap().to_owned()
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
    update(
        &s,
        "config/narrow",
        json!({"plugin_name": "postgresql-database-plugin", "connection_url": admin,
                   "allowed_roles": ["only-this"]}),
    )
    .await
    .unwrap();
    let write = |name: &'static str, body: Value| {
        let path = format!("static-roles/{name}");
        let s = &s;
        async move { update(s, &path, body).await }
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
            read(&s, "static-roles/bad").await.unwrap().data.is_none(),
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
    assert!(update(&s, "rotate-role/nope", json!({})).await.is_err());
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
        read(&s, "static-creds/locked").await.is_err(),
        "no password logs in yet"
    );
    pg_exec(&admin, &format!("ALTER ROLE {locked} LOGIN")).await;
    let held = read(&s, "static-creds/locked").await.unwrap();
    assert!(
        !held.warnings.is_empty(),
        "the answer says the password is settling"
    );
    let held = password_of(&held.data.unwrap());
    assert!(pg_login(&admin, &locked, &held).await);
    assert!(!pg_login(&admin, &locked, "Initial-Pass1").await);
    // The next rotation settles it.
    update(&s, "rotate-role/locked", json!({})).await.unwrap();
    let settled = read(&s, "static-creds/locked").await.unwrap();
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
    let s = setup();
    // (This machine's PostgreSQL trusts loopback logins for the admin, so any password works.)
    update(
        &s,
        "config/pg",
        json!({"plugin_name": "postgresql-database-plugin", "connection_url": templated,
                   "username": admin_user, "password": "Stored-Admin-Secret-1",
                   "allowed_roles": "*"}),
    )
    .await
    .unwrap();
    let before = stored(&s).await;
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
        let err = update(&s, "config/pg", body.clone()).await.unwrap_err();
        assert!(err.kind() == ErrorKind::InvalidRequest, "{body}: {err:?}");
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
        assert_eq!(stored(&s).await, before, "{body}: the config changed");
    }

    // The same target: other user information, another username, other settings — no
    // password needed, as before.
    for body in [
        json!({"connection_url": format!("postgres://{admin_user}@{rest}")}),
        json!({"connection_url": templated}),
        json!({"username": admin_user, "allowed_roles": ["app"]}),
    ] {
        update(&s, "config/pg", body.clone())
            .await
            .unwrap_or_else(|e| panic!("{body}: {e}"));
    }
    assert_eq!(stored(&s).await["allowed_roles"], json!(["app"]));

    // With the password given again, the new target is accepted (not verified: nothing
    // answers there).
    update(
        &s,
        "config/pg",
        json!({"connection_url": elsewhere, "password": "A-New-Admin-Pass-2",
                   "verify_connection": false}),
    )
    .await
    .unwrap();
    assert_eq!(
        stored(&s).await["connection_details"]["connection_url"],
        elsewhere
    );
    assert!(!anything_connected(&listener));
    // And back, with the password again, verified against the real database.
    update(
        &s,
        "config/pg",
        json!({"connection_url": templated, "password": "Stored-Admin-Secret-1"}),
    )
    .await
    .unwrap();

    // A connection holding no password has none to protect: its target may change freely.
    update(
        &s,
        "config/open",
        json!({"plugin_name": "postgresql-database-plugin", "connection_url": admin}),
    )
    .await
    .unwrap();
    update(
        &s,
        "config/open",
        json!({"connection_url": format!("postgres://x@127.0.0.1:{port}/test"),
                   "verify_connection": false}),
    )
    .await
    .unwrap();
    assert!(!anything_connected(&listener));
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
        update(
            &s,
            &format!("roles/{role}"),
            json!({"db_name": "pg", "username_template": name,
                       "creation_statements": creation}),
        )
        .await
        .unwrap();
        let err = read(&s, &format!("creds/{role}")).await.unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidRequest | ErrorKind::Internal),
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
    let s = setup();
    let (fake, plaintext) = plaintext_only_postgres().await;
    let err = update(&s, "config/strip",
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
    let response = update(
        &s,
        "config/pg",
        json!({"plugin_name": "postgresql-database-plugin", "connection_url": tls_url}),
    )
    .await
    .unwrap();
    assert!(response.warnings.is_empty(), "{:?}", response.warnings);
    let response = update(
        &s,
        "config/pg",
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
    let refused = update(
        &s,
        "config/maria",
        json!({"plugin_name": "mysql-database-plugin", "connection_url": bare}),
    )
    .await;
    assert!(refused.is_err(), "{refused:?}");
    let response = update(&s, "config/maria",
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
