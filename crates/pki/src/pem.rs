//! PEM text in and out.

use base64ct::{Base64, Encoding};
use zeroize::Zeroizing;

use crate::error::PkiError;

/// One PEM block (`-----BEGIN <label>-----`), as Vault writes them (64-column base64, `\n`).
pub(crate) fn encode(label: &str, der: &[u8]) -> Zeroizing<String> {
    let block = ::pem::Pem::new(label, der.to_vec());
    let config = ::pem::EncodeConfig::new().set_line_ending(::pem::LineEnding::LF);
    let mut text = ::pem::encode_config(&block, config);
    // The block's copy of the DER may be a private key.
    zeroize::Zeroize::zeroize(&mut block.into_contents());
    // Vault's PEM has no newline after the END line.
    while text.ends_with('\n') {
        text.pop();
    }
    Zeroizing::new(text)
}

/// A certificate's PEM.
pub(crate) fn certificate(der: &[u8]) -> String {
    encode("CERTIFICATE", der).to_string()
}

/// Standard base64 (Vault's `der` format).
pub(crate) fn base64(der: &[u8]) -> String {
    Base64::encode_string(der)
}

/// A PEM block: its label and DER (zeroized when dropped: it may be a key).
pub(crate) type Block = (String, Zeroizing<Vec<u8>>);

/// The blocks of a PEM text, in order: (label, DER). Text outside blocks is ignored, as Go's
/// `pem.Decode` ignores it.
///
/// # Errors
///
/// No block at all, or a block whose base64 does not decode.
pub(crate) fn blocks(text: &str) -> Result<Vec<Block>, PkiError> {
    let parsed = ::pem::parse_many(text.as_bytes())
        .map_err(|_| PkiError::invalid("no data found in PEM block"))?;
    if parsed.is_empty() {
        return Err(PkiError::invalid("no data found in PEM block"));
    }
    Ok(parsed
        .into_iter()
        .map(|block| {
            (
                block.tag().to_owned(),
                Zeroizing::new(block.into_contents()),
            )
        })
        .collect())
}
