//! Vault's token helper: where `login` keeps the token and where every other client command
//! finds it when none is given.
//!
//! The rules are Vault's CLI's (`api/cliconfig`, `api/tokenhelper`):
//! - the token in use is `-token`, else `STRONGROOM_TOKEN`/`VAULT_TOKEN`, else the helper's;
//! - the helper is the internal one, the file `~/.vault-token` (`$HOME`), unless the CLI
//!   config file (`VAULT_CONFIG_PATH`, default `~/.vault`, HCL) names an external program
//!   with `token_helper = "/path/to/helper"`;
//! - an external helper is run as `PROGRAM get` (prints the token), `PROGRAM store` (reads it
//!   on standard input) and `PROGRAM erase`, with the CLI's environment; a relative path is
//!   taken from the working directory and must exist;
//! - the internal helper writes a temporary file created with mode 0600 in the same directory
//!   and renames it over `~/.vault-token`, so the token is never readable by others, not even
//!   for a moment, and an existing file's looser mode or other owner is replaced with it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context as _, Result, bail};
use zeroize::Zeroizing;

/// Where the token comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TokenHelper {
    /// The file `~/.vault-token`.
    Internal(PathBuf),
    /// An external program (`token_helper` in the CLI config).
    External(PathBuf),
}

/// Which environment variables the token helper reads: injected so tests never touch the real
/// environment or home directory.
pub(crate) trait Env {
    /// The variable's value, if set and not empty.
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub(crate) struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

/// `~/rest` with `$HOME`, as Go's `homedir.Expand` reads it.
fn expand_home(path: &str, env: &dyn Env) -> Result<PathBuf> {
    match path.strip_prefix('~') {
        Some(rest) if rest.is_empty() || rest.starts_with('/') => {
            let home = home(env)?;
            Ok(home.join(rest.trim_start_matches('/')))
        }
        Some(_) => bail!("cannot expand user-specific home dir in {path}"),
        None => Ok(PathBuf::from(path)),
    }
}

fn home(env: &dyn Env) -> Result<PathBuf> {
    env.var("HOME")
        .map(PathBuf::from)
        .context("error getting user's home directory: HOME is not set")
}

/// The `token_helper` of the CLI config file's text (HCL or JSON), `None` if not set.
///
/// # Errors
///
/// Text that is not HCL, a key other than `token_helper` (Vault's "invalid key"), a
/// `token_helper` that is not a string.
pub(crate) fn parse_config(text: &str) -> Result<Option<String>> {
    // Vault's HCL 1 parser reads JSON too; HCL 2's does not, so JSON is read as JSON.
    if text.trim_start().starts_with('{') {
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(text).context("parsing the CLI config as JSON")?;
        let mut helper = None;
        for (key, value) in object {
            match (key.as_str(), value) {
                ("token_helper", serde_json::Value::String(path)) => helper = Some(path),
                ("token_helper", _) => bail!("token_helper must be a string"),
                (other, _) => bail!("invalid key '{other}'"),
            }
        }
        return Ok(helper.filter(|h| !h.is_empty()));
    }
    let body: hcl::Body = hcl::from_str(text).context("parsing the CLI config")?;
    let mut helper = None;
    for structure in body.into_iter() {
        match structure {
            hcl::Structure::Attribute(attribute) if attribute.key.as_str() == "token_helper" => {
                match attribute.expr {
                    hcl::Expression::String(path) => helper = Some(path),
                    _ => bail!("token_helper must be a string"),
                }
            }
            hcl::Structure::Attribute(attribute) => {
                bail!("invalid key '{}'", attribute.key.as_str())
            }
            hcl::Structure::Block(block) => bail!("invalid key '{}'", block.identifier.as_str()),
        }
    }
    Ok(helper.filter(|h| !h.is_empty()))
}

impl TokenHelper {
    /// The helper the CLI config names, or the internal one.
    ///
    /// # Errors
    ///
    /// An unreadable or invalid config file, an external helper that does not exist, no
    /// `$HOME` for a path that needs it.
    pub(crate) fn configured(env: &dyn Env) -> Result<Self> {
        let config = env
            .var("VAULT_CONFIG_PATH")
            .unwrap_or_else(|| "~/.vault".to_owned());
        let config = expand_home(&config, env)
            .with_context(|| format!("Error expanding config path {config}"))?;
        let text = match std::fs::read_to_string(&config) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", config.display())),
        };
        let helper = parse_config(&text)
            .with_context(|| format!("Error loading configuration from {}", config.display()))?;
        match helper {
            None => Ok(Self::Internal(home(env)?.join(".vault-token"))),
            Some(program) => {
                let program = std::path::absolute(&program)
                    .with_context(|| format!("resolving token helper {program}"))?;
                if std::fs::metadata(&program).is_err() {
                    bail!("unknown error getting the external helper path");
                }
                Ok(Self::External(program))
            }
        }
    }

    /// The stored token, `None` if there is none.
    ///
    /// # Errors
    ///
    /// An unreadable token file; an external helper that fails (its standard error is part of
    /// the message).
    pub(crate) fn get(&self) -> Result<Option<Zeroizing<String>>> {
        let text = match self {
            Self::Internal(path) => match std::fs::read(path) {
                Ok(bytes) => {
                    // The file's bytes are wiped too, not only the text made from them.
                    let bytes = Zeroizing::new(bytes);
                    Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned())
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
            },
            Self::External(program) => {
                let output = Command::new(program)
                    .arg("get")
                    .stdin(Stdio::null())
                    .output()
                    .with_context(|| format!("running {}", program.display()))?;
                // Its stdout holds the token (or, failing, may): wiped, never shown.
                let stdout = Zeroizing::new(output.stdout);
                if !output.status.success() {
                    bail!("{}", helper_failure(output.status, &output.stderr));
                }
                Zeroizing::new(String::from_utf8_lossy(&stdout).into_owned())
            }
        };
        let token = text.trim();
        Ok((!token.is_empty()).then(|| Zeroizing::new(token.to_owned())))
    }

    /// Stores `token`.
    ///
    /// # Errors
    ///
    /// The file cannot be written; the external helper fails.
    pub(crate) fn store(&self, token: &str) -> Result<()> {
        match self {
            Self::Internal(path) => store_file(path, token),
            Self::External(program) => {
                let mut child = Command::new(program)
                    .arg("store")
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .with_context(|| format!("running {}", program.display()))?;
                if let Some(mut stdin) = child.stdin.take() {
                    stdin.write_all(token.as_bytes())?;
                }
                let output = child.wait_with_output()?;
                if !output.status.success() {
                    bail!("{}", helper_failure(output.status, &output.stderr));
                }
                Ok(())
            }
        }
    }

    /// Forgets the stored token (nothing stored is not an error).
    ///
    /// # Errors
    ///
    /// The file cannot be removed; the external helper fails.
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "Vault's helper protocol; no command erases yet")
    )]
    pub(crate) fn erase(&self) -> Result<()> {
        match self {
            Self::Internal(path) => match std::fs::remove_file(path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    Err(e).with_context(|| format!("removing {}", path.display()))
                }
                _ => Ok(()),
            },
            Self::External(program) => {
                let output = Command::new(program)
                    .arg("erase")
                    .stdin(Stdio::null())
                    .output()
                    .with_context(|| format!("running {}", program.display()))?;
                if !output.status.success() {
                    bail!("{}", helper_failure(output.status, &output.stderr));
                }
                Ok(())
            }
        }
    }
}

/// Writes `token` to `path` through a new file created with mode 0600 beside it, renamed over
/// `path`: never a moment with the token in a file others can read, and a file left by someone
/// else (another owner, a looser mode) is replaced, not reused.
fn store_file(path: &Path, token: &str) -> Result<()> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut builder = tempfile::Builder::new();
    builder.prefix(".vault-token").suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        builder.permissions(std::fs::Permissions::from_mode(0o600));
    }
    let mut file = builder
        .tempfile_in(dir)
        .with_context(|| format!("creating a file in {}", dir.display()))?;
    file.write_all(token.as_bytes())?;
    file.as_file().sync_all()?;
    file.persist(path)
        .map_err(|e| e.error)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// Where the token a command uses came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The `-token` flag.
    Flag,
    /// An environment variable (its name).
    Env(&'static str),
    /// The token helper.
    Helper,
}

/// The token a client command uses: `-token`, else `STRONGROOM_TOKEN`, else `VAULT_TOKEN`,
/// else the token helper's (Vault's precedence). `None` when there is none anywhere.
///
/// # Errors
///
/// The token helper is misconfigured or fails (only asked when nothing else gave a token).
pub(crate) fn resolve(
    flag: Option<&str>,
    env: &dyn Env,
) -> Result<Option<(Zeroizing<String>, Source)>> {
    if let Some(token) = flag.filter(|t| !t.is_empty()) {
        return Ok(Some((Zeroizing::new(token.to_owned()), Source::Flag)));
    }
    for name in ["STRONGROOM_TOKEN", "VAULT_TOKEN"] {
        if let Some(token) = env.var(name) {
            return Ok(Some((Zeroizing::new(token), Source::Env(name))));
        }
    }
    let helper = TokenHelper::configured(env).context("failed to get token helper")?;
    Ok(helper
        .get()
        .context("failed to get token from token helper")?
        .map(|token| (token, Source::Helper)))
}

/// The token variable that is set (for login's warning that it takes precedence).
pub(crate) fn env_token_name(env: &dyn Env) -> Option<&'static str> {
    ["STRONGROOM_TOKEN", "VAULT_TOKEN"]
        .into_iter()
        .find(|name| env.var(name).is_some())
}

/// What a failed external helper said, for the error: its exit status and the start of its
/// stderr, never its stdout (a helper may echo the token it was given).
fn helper_failure(status: std::process::ExitStatus, stderr: &[u8]) -> String {
    let stderr = String::from_utf8_lossy(stderr);
    let said: String = stderr.trim().chars().take(200).collect();
    format!("token helper failed ({status}): {said:?}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::os::unix::fs::PermissionsExt as _;

    struct TestEnv(HashMap<&'static str, String>);

    impl Env for TestEnv {
        fn var(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned().filter(|v| !v.is_empty())
        }
    }

    fn env_with(home: &Path, vars: &[(&'static str, &str)]) -> TestEnv {
        let mut map = HashMap::from([("HOME", home.display().to_string())]);
        for (k, v) in vars {
            map.insert(*k, (*v).to_owned());
        }
        TestEnv(map)
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{e}"))
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn the_internal_helper_keeps_the_token_in_home_with_mode_0600() {
        let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let env = env_with(home.path(), &[]);
        let helper = TokenHelper::configured(&env).unwrap_or_else(|e| panic!("{e}"));
        let file = home.path().join(".vault-token");
        assert_eq!(helper, TokenHelper::Internal(file.clone()));
        // HOME without a file: no token, no error.
        assert!(helper.get().unwrap_or_else(|e| panic!("{e}")).is_none());
        assert!(
            resolve(None, &env)
                .unwrap_or_else(|e| panic!("{e}"))
                .is_none()
        );

        helper.store("s.first").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(mode(&file), 0o600);
        assert_eq!(
            std::fs::read_to_string(&file).ok().as_deref(),
            Some("s.first")
        );
        assert_eq!(
            helper
                .get()
                .unwrap_or_else(|e| panic!("{e}"))
                .as_deref()
                .map(String::as_str),
            Some("s.first")
        );

        // A world-readable file left there is replaced by a private one, not rewritten.
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))
            .unwrap_or_else(|e| panic!("{e}"));
        helper.store("s.second").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(mode(&file), 0o600);
        // No temporary file stays behind.
        let names: Vec<String> = std::fs::read_dir(home.path())
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, [".vault-token"]);

        // Whitespace around a hand-written token is not part of it.
        std::fs::write(&file, "  s.third\n").unwrap_or_else(|e| panic!("{e}"));
        let (token, source) = resolve(None, &env)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no token"));
        assert_eq!((token.as_str(), source), ("s.third", Source::Helper));

        helper.erase().unwrap_or_else(|e| panic!("{e}"));
        assert!(!file.exists());
        helper.erase().unwrap_or_else(|e| panic!("{e}"));
    }

    #[test]
    fn flag_then_environment_then_helper() {
        let home = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(home.path().join(".vault-token"), "s.helper")
            .unwrap_or_else(|e| panic!("{e}"));
        let got = |flag: Option<&str>, vars: &[(&'static str, &str)]| {
            resolve(flag, &env_with(home.path(), vars))
                .unwrap_or_else(|e| panic!("{e}"))
                .map(|(t, s)| (t.as_str().to_owned(), s))
        };
        let all = [("STRONGROOM_TOKEN", "s.ours"), ("VAULT_TOKEN", "s.vault")];
        assert_eq!(
            got(Some("s.flag"), &all),
            Some(("s.flag".into(), Source::Flag))
        );
        assert_eq!(
            got(None, &all),
            Some(("s.ours".into(), Source::Env("STRONGROOM_TOKEN")))
        );
        assert_eq!(
            got(None, &all[1..]),
            Some(("s.vault".into(), Source::Env("VAULT_TOKEN")))
        );
        // Set but empty is unset, as Vault reads it.
        assert_eq!(
            got(Some(""), &[("VAULT_TOKEN", "")]),
            Some(("s.helper".into(), Source::Helper))
        );
        assert_eq!(
            env_token_name(&env_with(home.path(), &all[1..])),
            Some("VAULT_TOKEN")
        );
        assert_eq!(env_token_name(&env_with(home.path(), &[])), None);
    }

    #[test]
    fn an_external_helper_speaks_get_store_erase() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let store = dir.path().join("stored");
        let program = dir.path().join("helper.sh");
        std::fs::write(
            &program,
            format!(
                "#!/bin/sh\ncase \"$1\" in\n  get) cat '{0}' 2>/dev/null || true ;;\n  store) cat > '{0}' ;;\n  erase) rm -f '{0}' ;;\n  *) echo bad >&2; exit 3 ;;\nesac\n",
                store.display()
            ),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o700))
            .unwrap_or_else(|e| panic!("{e}"));
        let config = dir.path().join("config.hcl");
        std::fs::write(
            &config,
            format!("token_helper = \"{}\"\n", program.display()),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let config = config.display().to_string();
        let env = env_with(dir.path(), &[("VAULT_CONFIG_PATH", &config)]);
        let helper = TokenHelper::configured(&env).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(helper, TokenHelper::External(program.clone()));
        assert!(helper.get().unwrap_or_else(|e| panic!("{e}")).is_none());
        helper.store("s.external").unwrap_or_else(|e| panic!("{e}"));
        let (token, source) = resolve(None, &env)
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|| panic!("no token"));
        assert_eq!((token.as_str(), source), ("s.external", Source::Helper));
        // The internal file is not used.
        assert!(!dir.path().join(".vault-token").exists());
        helper.erase().unwrap_or_else(|e| panic!("{e}"));
        assert!(!store.exists());

        // A helper that fails: its standard error is in the message.
        std::fs::write(&program, "#!/bin/sh\necho broken >&2\nexit 1\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let error = format!(
            "{:#}",
            resolve(None, &env)
                .err()
                .unwrap_or_else(|| panic!("no error"))
        );
        assert!(error.contains("broken"), "{error}");
        // One that prints the token and fails: the token stays out of the message.
        std::fs::write(
            &program,
            "#!/bin/sh\necho s.EchoedSecretToken\necho broken >&2\nexit 1\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let error = format!(
            "{:#}",
            resolve(None, &env)
                .err()
                .unwrap_or_else(|| panic!("no error"))
        );
        assert!(!error.contains("EchoedSecretToken"), "{error}");
        assert!(error.contains("broken"), "{error}");

        // A helper that does not exist, an unknown key: clear errors, no token.
        std::fs::write(
            dir.path().join("config.hcl"),
            "token_helper = \"/nonexistent/helper\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(TokenHelper::configured(&env).is_err());
        std::fs::write(dir.path().join("config.hcl"), "token_helpr = \"x\"\n")
            .unwrap_or_else(|e| panic!("{e}"));
        let error = format!(
            "{:#}",
            TokenHelper::configured(&env)
                .err()
                .unwrap_or_else(|| panic!("no error"))
        );
        assert!(error.contains("invalid key 'token_helpr'"), "{error}");
    }

    #[test]
    fn config_text() {
        assert_eq!(parse_config("").ok(), Some(None));
        assert_eq!(
            parse_config("token_helper = \"/bin/h\"").ok(),
            Some(Some("/bin/h".to_owned()))
        );
        assert_eq!(
            parse_config(r#"{"token_helper": "/bin/j"}"#).ok(),
            Some(Some("/bin/j".to_owned()))
        );
        assert!(parse_config(r#"{"other": 1}"#).is_err());
        assert!(parse_config("token_helper = 3").is_err());
        assert!(parse_config("x {}").is_err());
    }
}
