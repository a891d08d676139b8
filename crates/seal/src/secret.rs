use zeroize::Zeroizing;

/// Secret bytes (a root key, a key-encryption key, a share's value): zeroized on drop, never
/// `Clone`, `Debug` shows only the length.
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of `bytes` (no copy is made; the vector is zeroized, over its whole
    /// capacity, when this value is dropped).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A copy of `bytes`. The caller should zeroize its own copy.
    pub fn copy_from(bytes: &[u8]) -> Self {
        Self::new(bytes.to_vec())
    }

    /// The secret. Do not keep copies.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A second zeroizing copy, for handing to another owner on purpose.
    pub fn duplicate(&self) -> Self {
        Self::copy_from(&self.0)
    }

    /// Compares with another secret in constant time (lengths may differ visibly).
    pub fn ct_eq(&self, other: &[u8]) -> bool {
        subtle::ConstantTimeEq::ct_eq(self.expose_secret(), other).into()
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBytes([REDACTED; {} bytes])", self.0.len())
    }
}

/// A secret rendered as text (an encoded share, a one-time pad): zeroized on drop, never `Clone`,
/// `Debug` redacted.
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    /// Takes ownership of `text`.
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    /// The secret text. Do not keep copies.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretString([REDACTED])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts() {
        let bytes = SecretBytes::copy_from(&[0xAB; 4]);
        let shown = format!("{bytes:?} {bytes:#?}");
        assert!(!shown.contains("171") && !shown.to_lowercase().contains("ab,"));
        assert!(shown.contains("4 bytes"));
        let text = SecretString::new("hunter2".into());
        assert!(!format!("{text:?}").contains("hunter2"));
    }

    #[test]
    fn constant_time_equality() {
        let a = SecretBytes::copy_from(b"abc");
        assert!(a.ct_eq(b"abc"));
        assert!(!a.ct_eq(b"abd"));
        assert!(!a.ct_eq(b"ab"));
    }
}
