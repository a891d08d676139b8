//! Arbitrary text as a server configuration file (Vault-style HCL): parsing must return a
//! configuration or an error naming the file with a line and column inside the text, never
//! panic; it must be deterministic; a configuration that parses has a listener; and the
//! secrets a file may hold (the PostgreSQL connection URL, the transit seal's token) are never
//! shown by `Debug`.

use std::path::Path;

use strongroom_cli::config::{SealConfig, StorageConfig, parse};

/// One input.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Path::new("fuzz.hcl");
    let result = parse(file, text);
    assert_eq!(result, parse(file, text), "parsing is not deterministic");
    match result {
        Ok(config) => {
            assert!(!config.listeners.is_empty(), "a config without a listener");
            if let StorageConfig::Postgresql {
                table,
                max_parallel,
                ha,
                ..
            } = &config.storage
            {
                assert_eq!(
                    format!("{:?}", config.storage),
                    format!(
                        "Postgresql {{ connection_url: \"[REDACTED]\", table: {table:?}, \
                         max_parallel: {max_parallel:?}, ha: {ha:?} }}"
                    )
                );
            }
            if let SealConfig::Transit {
                address,
                key_name,
                mount_path,
                ..
            } = &config.seal
            {
                assert_eq!(
                    format!("{:?}", config.seal),
                    format!(
                        "Transit {{ address: {address:?}, token: \"[REDACTED]\", \
                         key_name: {key_name:?}, mount_path: {mount_path:?}, .. }}"
                    )
                );
            }
        }
        Err(e) => {
            assert!(e.line >= 1 && e.column >= 1, "{e}");
            assert!(e.line <= text.lines().count() + 1, "{e}");
            assert!(e.to_string().starts_with("fuzz.hcl:"), "{e}");
        }
    }
}
