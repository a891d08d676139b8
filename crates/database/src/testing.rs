//! Helpers for tests against a real PostgreSQL (feature `testing`): the services' URLs, logins
//! as issued users, the roles that exist, statements run as the admin.

#![allow(
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a failed step is a failed test"
)]

use sqlx::Connection as _;

/// The creation statements the tests' roles use. Members of `strongroom_password_auth` must log
/// in with their password (`scripts/services.sh` sets that up: the machine's PostgreSQL
/// otherwise trusts loopback logins).
pub const PG_CREATE: &str = r#"CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}' IN ROLE strongroom_password_auth; GRANT CONNECT ON DATABASE test TO "{{name}}";"#;

/// The URL in the environment variable `var`; `None` (the test skips) when it is not set,
/// unless `STRONGROOM_REQUIRE_SERVICES=1`.
///
/// # Panics
///
/// When the variable is missing and services are required.
pub fn service(var: &str) -> Option<String> {
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

/// The user URL for PostgreSQL: the admin URL with the user's name and password.
pub fn pg_user_url(admin: &str, user: &str, password: &str) -> String {
    let rest = admin.split_once('@').map_or(admin, |(_, rest)| rest);
    format!("postgres://{user}:{password}@{rest}")
}

/// Whether `user` can log in with `password` (and run a query).
///
/// # Panics
///
/// When the logged-in query fails.
pub async fn pg_login(admin: &str, user: &str, password: &str) -> bool {
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

/// The roles whose names start with `prefix`, with their expiry.
///
/// # Panics
///
/// When the admin cannot connect or query.
pub async fn pg_roles_like(admin: &str, prefix: &str) -> Vec<(String, Option<String>)> {
    let mut conn = sqlx::PgConnection::connect(admin).await.unwrap();
    sqlx::query_as(
        "SELECT rolname::text, rolvaliduntil::text FROM pg_roles WHERE rolname LIKE $1 ORDER BY 1",
    )
    .bind(format!("{prefix}%"))
    .fetch_all(&mut conn)
    .await
    .unwrap()
}

/// Runs `statements` as the admin.
///
/// # Panics
///
/// When they fail.
pub async fn pg_exec(admin: &str, statements: &str) {
    let mut conn = sqlx::PgConnection::connect(admin).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(statements.to_owned()))
        .execute(&mut conn)
        .await
        .unwrap();
}

/// A fresh existing user `<prefix>_<pid>` with the password `Initial-Pass1`.
///
/// # Panics
///
/// When it cannot be made.
pub async fn pg_static_user(admin: &str, prefix: &str) -> String {
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
