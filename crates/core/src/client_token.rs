//! [`ClientToken`]: the bearer credential a request carries.

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// A client token (Vault's `X-Vault-Token`): the root token [`init`](crate::Vault::init)
/// returns, the tokens [`Tokens::create`](crate::Tokens::create) and logins hand out, and what
/// every request is made with.
///
/// It is a secret: its memory is wiped when dropped (each clone's too), `Debug` shows
/// `ClientToken([REDACTED])`, it has no `Display` and no `Serialize`, and two tokens compare in
/// constant time (only their lengths can be told apart by timing). Reading the token's text is
/// the explicit [`expose_secret`](Self::expose_secret), for sending it somewhere it must go (an
/// HTTP header, a file only its owner reads).
///
/// ```
/// use strongroom_core::ClientToken;
///
/// let token = ClientToken::new("s.example");
/// assert_eq!(format!("{token:?}"), "ClientToken([REDACTED])");
/// assert_eq!(token, ClientToken::from("s.example"));
/// assert_eq!(token.expose_secret(), "s.example");
/// ```
#[derive(Clone)]
pub struct ClientToken(Zeroizing<String>);

impl ClientToken {
    /// Wraps a token's text (from a server's answer, a file, an environment variable).
    pub fn new(token: impl Into<String>) -> Self {
        Self(Zeroizing::new(token.into()))
    }

    /// The token's text. Every call is a place where the secret leaves this type: send it
    /// where it must go, never to a log.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientToken([REDACTED])")
    }
}

impl PartialEq for ClientToken {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes().ct_eq(other.0.as_bytes()).into()
    }
}

impl Eq for ClientToken {}

impl From<String> for ClientToken {
    fn from(token: String) -> Self {
        Self::new(token)
    }
}

impl From<&str> for ClientToken {
    fn from(token: &str) -> Self {
        Self::new(token)
    }
}

impl From<&String> for ClientToken {
    fn from(token: &String) -> Self {
        Self::new(token.as_str())
    }
}

impl From<&ClientToken> for ClientToken {
    fn from(token: &ClientToken) -> Self {
        token.clone()
    }
}

/// What [`Vault::read`](crate::Vault::read), [`write`](crate::Vault::write),
/// [`list`](crate::Vault::list) and [`delete`](crate::Vault::delete) take as the token: a
/// [`ClientToken`], or a token's text (`&str`, `&String`) as a server or test has it. Sealed:
/// it reads the text only inside this crate, so passing a `ClientToken` exposes nothing.
pub trait AsToken: sealed::Sealed {}

impl<T: sealed::Sealed + ?Sized> AsToken for T {}

mod sealed {
    use super::ClientToken;

    /// The text of a token argument (not nameable outside the crate).
    pub trait Sealed {
        /// The token's text.
        fn token_text(&self) -> &str;
    }

    impl Sealed for ClientToken {
        fn token_text(&self) -> &str {
            self.expose_secret()
        }
    }

    impl Sealed for str {
        fn token_text(&self) -> &str {
            self
        }
    }

    impl Sealed for String {
        fn token_text(&self) -> &str {
            self
        }
    }

    impl<T: Sealed + ?Sized> Sealed for &T {
        fn token_text(&self) -> &str {
            (**self).token_text()
        }
    }
}

/// The text of a token argument.
pub(crate) fn token_text(token: &(impl AsToken + ?Sized)) -> &str {
    sealed::Sealed::token_text(token)
}

#[cfg(test)]
mod tests {
    use super::ClientToken;

    #[test]
    fn debug_redacts_and_equality_compares_the_text() {
        let token = ClientToken::new("s.hunter2");
        let shown = format!("{token:?} {:?}", Some(token.clone()));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(token, ClientToken::from(String::from("s.hunter2")));
        assert_ne!(token, ClientToken::from("s.hunter3"));
        assert_ne!(token, ClientToken::from("s.hunter"));
    }
}
