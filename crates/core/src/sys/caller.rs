//! Who is asking, as the request pipeline established it.

use crate::tokens::TokenEntry;

/// Who is asking, as the pipeline established it.
pub(crate) struct Caller {
    /// The token, after this request's use was counted.
    pub(crate) entry: TokenEntry,
    /// The token as presented.
    pub(crate) token: String,
    /// This request took the token's last use.
    pub(crate) last_use: bool,
    /// The token holds `sudo` (or root) on the request path.
    pub(crate) sudo: bool,
}
