//! The client's error type.

use std::path::PathBuf;

/// What went wrong talking to the server. Messages never contain the token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The address is not an `http://` or `https://` URL.
    #[error("invalid server address {0:?}: {1}")]
    Address(String, String),
    /// The token cannot be sent as an HTTP header (control characters or non-ASCII).
    #[error("the token is not a valid HTTP header value")]
    InvalidToken,
    /// A CA certificate file could not be read or holds no PEM certificate.
    #[error("CA certificate {}: {message}", path.display())]
    CaCert {
        /// The file (empty for certificates given in memory).
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// The HTTP client could not be built (TLS set-up).
    #[error("setting up the HTTP client: {0}")]
    Tls(#[source] reqwest::Error),
    /// The server could not be reached, or the response was cut short.
    #[error("{method} {path}: {source}")]
    Transport {
        /// The request's method.
        method: String,
        /// The API path (below `/v1/`).
        path: String,
        /// The underlying error (without the URL).
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("{method} {path}: {status}{}", display_errors(errors))]
    Api {
        /// The request's method.
        method: String,
        /// The API path (below `/v1/`).
        path: String,
        /// The HTTP status code.
        status: u16,
        /// The server's `errors` array.
        errors: Vec<String>,
    },
    /// The server redirected to another origin (scheme, host or port), which the client does not
    /// follow: the token would go to a server nobody configured, or in clear after a downgrade.
    #[error(
        "{method} {path}: refusing to follow a redirect to another origin ({location}); set the address to it if it is trusted"
    )]
    Redirect {
        /// The request's method.
        method: String,
        /// The API path (below `/v1/`).
        path: String,
        /// The redirect's target, without its query.
        location: String,
    },
    /// A success response was not the JSON expected.
    #[error("decoding the response to {method} {path}: {message}")]
    Decode {
        /// The request's method.
        method: String,
        /// The API path (below `/v1/`).
        path: String,
        /// What was wrong.
        message: String,
    },
}

fn display_errors(errors: &[String]) -> String {
    if errors.is_empty() {
        String::new()
    } else {
        format!(": {}", errors.join("; "))
    }
}

impl Error {
    /// The HTTP status code, for [`Error::Api`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's error messages, for [`Error::Api`].
    pub fn errors(&self) -> &[String] {
        match self {
            Self::Api { errors, .. } => errors,
            _ => &[],
        }
    }
}
