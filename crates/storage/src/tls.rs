//! TLS for connections to database servers: safe defaults where the drivers default to
//! `prefer` (TLS if the server offers it, silently plaintext otherwise, so anyone on the path can
//! strip it).
//!
//! The rule, for this crate's PostgreSQL storage and for the database secrets engine:
//! * a URL (or `PGSSLMODE`) that names a mode gets that mode; a mode that allows plaintext
//!   (`disable`, `allow`, `prefer`; MySQL's `DISABLED`, `PREFERRED`) comes with a warning;
//! * otherwise, with a CA configured (`sslrootcert`, or `PGSSLROOTCERT`) the connection is
//!   `verify-full`: TLS, the certificate chained to that CA and issued for the host;
//! * otherwise `require`: TLS or no connection (the certificate is not checked — name a CA to
//!   get that), except over a Unix socket, which never leaves the machine.

use std::str::FromStr as _;

use sqlx::postgres::{PgConnectOptions, PgSslMode};

use crate::{Result, StorageError};

/// Whether the query string of `url` sets any of `keys` (percent-decoded, as drivers read it).
pub fn url_sets(url: &str, keys: &[&str]) -> bool {
    // The query is what lies between the first `?` and the fragment (a `?` inside the
    // fragment is not a query).
    let before_fragment = url.split_once('#').map_or(url, |(u, _)| u);
    let Some((_, query)) = before_fragment.split_once('?') else {
        return false;
    };
    form_urlencoded::parse(query.as_bytes()).any(|(key, _)| keys.contains(&key.as_ref()))
}

/// PostgreSQL connect options for `url` with the TLS rule above, and the warning to give when the
/// URL asks for a mode that allows plaintext. The warning never holds the URL (it may hold a
/// password).
///
/// # Errors
///
/// [`StorageError::Config`] when the URL cannot be parsed.
pub fn postgres_options(url: &str) -> Result<(PgConnectOptions, Option<String>)> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| StorageError::Config(format!("invalid PostgreSQL connection URL: {e}")))?;
    let explicit =
        url_sets(url, &["sslmode", "ssl-mode"]) || std::env::var_os("PGSSLMODE").is_some();
    if explicit {
        let warning = match options.get_ssl_mode() {
            PgSslMode::Disable | PgSslMode::Allow | PgSslMode::Prefer => Some(
                "the PostgreSQL connection's sslmode allows plaintext: passwords and data can \
                 be read and changed on the network (use sslmode=verify-full with sslrootcert)"
                    .to_owned(),
            ),
            PgSslMode::Require | PgSslMode::VerifyCa | PgSslMode::VerifyFull => None,
        };
        return Ok((options, warning));
    }
    if options.get_socket().is_some() {
        return Ok((options, None));
    }
    let ca = url_sets(url, &["sslrootcert", "ssl-root-cert", "ssl-ca"])
        || std::env::var_os("PGSSLROOTCERT").is_some();
    let mode = if ca {
        PgSslMode::VerifyFull
    } else {
        PgSslMode::Require
    };
    Ok((options.ssl_mode(mode), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(url: &str) -> (PgSslMode, bool) {
        let (options, warning) = postgres_options(url).unwrap();
        (options.get_ssl_mode(), warning.is_some())
    }

    #[test]
    fn defaults_need_tls() {
        // PGSSLMODE would count as explicit; these tests assume it is unset, as in CI.
        if std::env::var_os("PGSSLMODE").is_some() || std::env::var_os("PGSSLROOTCERT").is_some() {
            return;
        }
        assert!(matches!(
            mode("postgres://u@db:5432/x"),
            (PgSslMode::Require, false)
        ));
        assert!(matches!(
            mode("postgres://u@db/x?sslrootcert=/etc/ca.pem"),
            (PgSslMode::VerifyFull, false)
        ));
        assert!(matches!(
            mode("postgres://u@db/x?sslmode=verify-ca&sslrootcert=/ca.pem"),
            (PgSslMode::VerifyCa, false)
        ));
        for weak in ["disable", "allow", "prefer", "PREFER"] {
            let (m, warned) = mode(&format!("postgres://u:pw@db/x?sslmode={weak}"));
            assert!(warned, "{weak}: {m:?}");
        }
        // Percent-encoded keys are what the driver reads too.
        assert!(mode("postgres://u@db/x?ssl%6dode=disable").1);
        // A Unix socket never leaves the machine.
        assert!(matches!(
            mode("postgres://u@%2Fvar%2Frun%2Fpostgresql/x"),
            (PgSslMode::Prefer, false)
        ));
    }

    #[test]
    fn the_warning_never_holds_the_url() {
        let (_, warning) = postgres_options("postgres://u:hunter2@db/x?sslmode=disable").unwrap();
        assert!(!warning.unwrap().contains("hunter2"));
    }

    #[test]
    fn url_keys() {
        assert!(url_sets("mysql://h/x?a=1&ssl-mode=DISABLED", &["ssl-mode"]));
        assert!(!url_sets("mysql://h/x#ssl-mode=x", &["ssl-mode"]));
        assert!(!url_sets(
            "postgres://db/x#?sslmode=verify-full",
            &["sslmode"]
        ));
        assert!(url_sets(
            "postgres://db/x?sslmode=require#frag",
            &["sslmode"]
        ));
        assert!(!url_sets("mysql://h/ssl-mode", &["ssl-mode"]));
    }
}
