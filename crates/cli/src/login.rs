//! `login`: authenticates with a token, userpass, approle or jwt, stores the token with the
//! token helper and prints it as Vault's `login` does.
//!
//! As `bao login` (OpenBao 2.7.2's `command/login.go`): the default method is `token` (an
//! argument without `=` is the token, `-` reads it from standard input, none prompts for it)
//! and checks the token with `auth/token/lookup-self`; `-path` is where the method is mounted
//! (default: the method's name); `-no-store` prints without storing, `-token-only` prints only
//! the token (and stores nothing), `-no-print` stores without printing. A login asked to be
//! wrapped (`-wrap-ttl`) is unwrapped before it is stored, unless `-no-store`/`-token-only` ask
//! for the wrapping token itself. `approle` (`role_id=`, `secret_id=`) and `jwt` (`role=`,
//! `jwt=`) have no handler in the `bao` CLI; here they log in with their `K=V` pairs as the
//! body of `auth/<path>/login`.

use std::io::IsTerminal as _;

use anyhow::{Context as _, Result, anyhow, bail};
use serde_json::{Map, Value};
use strongroom_client::{Client, Secret, SecretAuth};
use zeroize::Zeroizing;

use crate::input;
use crate::output::{self, OutputArgs, wrap_at_length};
use crate::token_helper::{self, Env, TokenHelper};

/// `login [flags] [TOKEN | K=V...]`.
#[derive(clap::Args, Debug)]
pub(crate) struct LoginArgs {
    /// The auth method's type: `token`, `userpass`, `approle` or `jwt`.
    #[arg(long, default_value = "token")]
    method: String,
    /// Where the method is mounted (default: its type, e.g. `userpass/`).
    #[arg(long, default_value = "")]
    path: String,
    /// Print the token without storing it with the token helper.
    #[arg(long)]
    no_store: bool,
    /// Store the token without printing it.
    #[arg(long)]
    no_print: bool,
    /// Print only the token, without storing it (`-field=token -no-store`).
    #[arg(long)]
    token_only: bool,
    #[command(flatten)]
    out: OutputArgs,
    /// The token (for `-method=token`; `-` reads it from standard input), or `K=V` pairs.
    args: Vec<String>,
}

/// An error of the authentication itself: Vault reports it as "Error authenticating: ..." and
/// exits 2.
#[derive(Debug)]
struct AuthError(String);

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AuthError {}

/// The `K=V` pairs as Vault's CLI passes them to a login handler: strings.
fn string_pairs(args: &[String]) -> Result<Map<String, Value>> {
    let map = input::parse(args).context("Error parsing configuration")?;
    Ok(map
        .into_iter()
        .map(|(k, v)| match v {
            Value::String(s) => (k, Value::String(s)),
            other => (k, Value::String(output::go_value(&other))),
        })
        .collect())
}

/// Reads a secret from the terminal after `prompt` (on standard error), as Vault's handlers
/// do; with no terminal, Vault's error.
fn prompt_secret(prompt: &str) -> Result<Zeroizing<String>> {
    eprint!("{prompt}");
    if !std::io::stdin().is_terminal() {
        eprintln!();
        return Err(AuthError("file descriptor 0 is not a terminal".into()).into());
    }
    let secret = rpassword::read_password().map_err(|e| AuthError(e.to_string()))?;
    eprintln!();
    Ok(Zeroizing::new(secret))
}

fn take(config: &mut Map<String, Value>, key: &str) -> Option<Zeroizing<String>> {
    match config.remove(key) {
        Some(Value::String(s)) => Some(Zeroizing::new(s)),
        _ => None,
    }
}

/// The auth block of a token looked up with `lookup-self`, as Vault's token handler builds it.
fn auth_from_lookup(lookup: &Secret) -> SecretAuth {
    let data = &lookup.data;
    let strings = |key: &str| -> Option<Vec<String>> {
        data.get(key).and_then(Value::as_array).map(|items| {
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
    };
    let token_policies = strings("policies").unwrap_or_default();
    let identity_policies = strings("identity_policies");
    let mut policies = token_policies.clone();
    policies.extend(identity_policies.clone().unwrap_or_default());
    let mut auth = SecretAuth::default();
    auth.client_token = Zeroizing::new(
        data.get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
    );
    auth.accessor = data
        .get("accessor")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    auth.policies = policies;
    auth.token_policies = token_policies;
    auth.identity_policies = identity_policies;
    auth.metadata = data
        .get("meta")
        .or_else(|| data.get("metadata"))
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
        .cloned();
    auth.lease_duration = data.get("ttl").and_then(Value::as_u64).unwrap_or(0);
    auth.renewable = data
        .get("renewable")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    auth
}

fn with_auth(auth: SecretAuth) -> Secret {
    let mut secret = Secret::default();
    secret.auth = Some(auth);
    secret
}

/// Vault's token handler: `token=` (or a prompt), `lookup=false` to skip the check.
async fn token_login(client: &Client, mut config: Map<String, Value>) -> Result<Secret> {
    let lookup = match config.get("lookup").and_then(Value::as_str) {
        Some(text) => go_bool(text).ok_or_else(|| {
            AuthError(format!(
                "Failed to parse \"lookup\" as boolean: strconv.ParseBool: parsing {text:?}: invalid syntax"
            ))
        })?,
        None => true,
    };
    let token = match take(&mut config, "token") {
        Some(token) => token,
        None => prompt_secret("Token (will be hidden): ")?,
    };
    let token = Zeroizing::new(token.trim().to_owned());
    if token.is_empty() {
        return Err(AuthError(
            "a token must be passed to auth, please view the help for more information".into(),
        )
        .into());
    }
    if !lookup {
        let mut auth = SecretAuth::default();
        auth.client_token = token;
        return Ok(with_auth(auth));
    }
    let lookup = client
        .with_token(&token)?
        .without_wrapping()
        .read("auth/token/lookup-self")
        .await
        .context("error looking up token")?
        .ok_or_else(|| AuthError("empty response from lookup-self".into()))?;
    Ok(with_auth(auth_from_lookup(&lookup)))
}

/// Go's `strconv.ParseBool`.
fn go_bool(text: &str) -> Option<bool> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Vault's userpass handler: `username=`, `password=` (or a prompt).
async fn userpass_login(
    client: &Client,
    mount: &str,
    mut config: Map<String, Value>,
) -> Result<Secret> {
    let username = take(&mut config, "username").filter(|u| !u.is_empty());
    let Some(username) = username else {
        return Err(AuthError("'username' must be specified".into()).into());
    };
    let password = match take(&mut config, "password").filter(|p| !p.is_empty()) {
        Some(password) => password,
        None => prompt_secret("Password (will be hidden): ")?,
    };
    let body = serde_json::json!({ "password": password.as_str() });
    client
        .write(&format!("auth/{mount}/login/{}", username.as_str()), &body)
        .await?
        .ok_or_else(|| AuthError("empty response from credential provider".into()).into())
}

/// approle and jwt: the pairs (less `mount`) are the login's body; `required` must be there.
async fn body_login(
    client: &Client,
    mount: &str,
    config: Map<String, Value>,
    required: &str,
) -> Result<Secret> {
    if config
        .get(required)
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(AuthError(format!("'{required}' must be specified")).into());
    }
    let body = Value::Object(config);
    client
        .write(&format!("auth/{mount}/login"), &body)
        .await?
        .ok_or_else(|| AuthError("empty response from credential provider".into()).into())
}

/// The token of a login's answer, unwrapping a wrapped answer when `unwrap` (Vault's
/// `extractToken`). The second value says whether the answer returned is still wrapped.
async fn extract_token(
    client: &Client,
    mut secret: Secret,
    unwrap: bool,
) -> Result<(Secret, bool)> {
    // A wrapped login holds a login; a wrapped wrapped login is unwrapped twice, no further.
    for _ in 0..4 {
        if secret.auth.is_some() {
            return Ok((secret, false));
        }
        let Some(wrap) = &secret.wrap_info else {
            bail!("no auth or wrapping info in response");
        };
        if wrap.wrapped_accessor.is_empty() {
            bail!("wrapped response does not contain a token");
        }
        if !unwrap {
            return Ok((secret, true));
        }
        secret = client
            .with_token(&wrap.token)?
            .without_wrapping()
            .unwrap(None)
            .await?
            .ok_or_else(|| anyhow!("no auth or wrapping info in response"))?;
    }
    bail!("too many layers of wrapping in the login's answer")
}

/// Runs `login`; returns the exit code.
pub(crate) async fn run(client: &Client, mut args: LoginArgs, env: &dyn Env) -> Result<i32> {
    if args.token_only {
        args.no_store = true;
        args.out.field = Some("token".into());
    }
    if args.no_store && args.no_print {
        eprintln!(
            "{}",
            wrap_at_length("-no-store and -no-print cannot be used together")
        );
        return Ok(1);
    }
    let method = args.method.trim_matches('/');
    let method = if method.is_empty() { "token" } else { method };
    let mount = if args.path.is_empty() {
        method.to_owned()
    } else {
        args.path.trim_matches('/').to_owned()
    };
    if !matches!(method, "token" | "userpass" | "approle" | "jwt") {
        eprintln!(
            "{}",
            wrap_at_length(&format!(
                "Unknown auth method: {method}. Use \"strongroom auth list\" to see the \
                 complete list of auth methods. Additionally, some auth methods are only \
                 available via the HTTP API."
            ))
        );
        return Ok(1);
    }
    let mut pairs = args.args.clone();
    if method == "token"
        && let Some(first) = pairs.first_mut()
        && !first.contains('=')
    {
        *first = format!("token={first}");
    }
    let mut config = match string_pairs(&pairs) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error:#}");
            return Ok(1);
        }
    };
    let mount = match config.remove("mount") {
        Some(Value::String(m)) if !m.is_empty() => m.trim_matches('/').to_owned(),
        _ => mount,
    };
    // A login never carries the token in use (Vault's rule for every method but token, whose
    // handler sets the token it checks).
    let anonymous = client.without_token();
    let answer = match method {
        "token" => token_login(&anonymous, config).await,
        "userpass" => userpass_login(&anonymous, &mount, config).await,
        "approle" => body_login(&anonymous, &mount, config, "role_id").await,
        _ => body_login(&anonymous, &mount, config, "jwt").await,
    };
    let secret = match answer {
        Ok(secret) => secret,
        Err(error) => {
            report("Error authenticating", &error, client.address());
            return Ok(2);
        }
    };
    let unwrap = !args.token_only && !args.no_store;
    let (secret, wrapped) = match extract_token(&anonymous, secret, unwrap).await {
        Ok(found) => found,
        Err(error) => {
            report("Error extracting token", &error, client.address());
            return Ok(2);
        }
    };
    if wrapped {
        if args.token_only {
            let token = secret
                .wrap_info
                .as_ref()
                .map(|w| w.token.to_string())
                .unwrap_or_default();
            output::raw_field(&Value::String(token))?;
            return Ok(0);
        }
        if args.no_store {
            output::print_secret(&secret, &secret.data, &args.out)?;
            return Ok(0);
        }
    }
    let Some(auth) = &secret.auth else {
        eprintln!(
            "{}",
            wrap_at_length(
                "Vault returned a secret, but the secret has no authentication information \
                 attached. This should never happen and is likely a bug."
            )
        );
        return Ok(2);
    };
    if !args.no_store {
        let helper = match TokenHelper::configured(env) {
            Ok(helper) => helper,
            Err(error) => {
                eprintln!(
                    "{}",
                    wrap_at_length(&format!(
                        "Error initializing token helper. Please verify that the token helper \
                         is available and properly configured for your system. The error was: \
                         {error:#}"
                    ))
                );
                return Ok(1);
            }
        };
        if let Err(error) = helper.store(&auth.client_token) {
            eprintln!("Error storing token: {error:#}");
            eprintln!(
                "{}\n",
                wrap_at_length(
                    "Authentication was successful, but the token was not persisted. The \
                     resulting token is shown below for your records."
                )
            );
            output::print_secret(&secret, &secret.data, &args.out)?;
            return Ok(2);
        }
        if let Some(name) = token_helper::env_token_name(env) {
            eprintln!(
                "{}\n",
                wrap_at_length(&format!(
                    "WARNING! The {name} environment variable is set! The value of this \
                     variable will take precedence; if this is unwanted please unset {name} or \
                     update its value accordingly."
                ))
            );
        }
    } else if !args.token_only {
        eprintln!(
            "{}\n",
            wrap_at_length(
                "The token was not stored in token helper. Set the VAULT_TOKEN environment \
                 variable or pass the token below with each request to Vault."
            )
        );
    }
    if args.no_print {
        return Ok(0);
    }
    if args.out.field.is_some() {
        output::print_secret(&secret, &secret.data, &args.out)?;
        return Ok(0);
    }
    if !args.out.json() {
        println!("{}\n", success_banner());
    }
    output::print_secret(&secret, &secret.data, &args.out)?;
    Ok(0)
}

/// What `login` says on success (Vault's words, with this CLI's name).
pub(crate) fn success_banner() -> String {
    wrap_at_length(
        "Success! You are now authenticated. The token information displayed below is \
         already stored in the token helper. You do NOT need to run \"strongroom login\" \
         again. Future Strongroom requests will automatically use this token.",
    )
}

/// Prints `error` after `what`, as Vault's CLI reports an error from the server or a handler.
fn report(what: &str, error: &anyhow::Error, address: &str) {
    eprintln!("{}", output::chained(what, error, address));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_lookup_becomes_the_auth_block_vaults_handler_builds() {
        let lookup: Secret = serde_json::from_value(json!({
            "data": {"id": "s.abc", "accessor": "acc", "policies": ["default", "reader"],
                     "meta": {"username": "bob"}, "ttl": 2_764_800, "renewable": true}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let auth = auth_from_lookup(&lookup);
        assert_eq!(auth.client_token.as_str(), "s.abc");
        assert_eq!(auth.accessor, "acc");
        assert_eq!(auth.token_policies, ["default", "reader"]);
        assert_eq!(auth.policies, ["default", "reader"]);
        assert_eq!(auth.identity_policies, None);
        assert_eq!((auth.lease_duration, auth.renewable), (2_764_800, true));
        let rows = output::secret_rows(&with_auth(auth), &Map::new());
        assert!(rows.contains(&("token_meta_username".into(), "bob".into())));
        assert!(rows.contains(&("identity_policies".into(), "[]".into())));
        assert!(rows.contains(&("token_duration".into(), "768h".into())));
    }

    #[test]
    fn the_banner_is_wrapped_as_vaults() {
        assert_eq!(
            success_banner(),
            "Success! You are now authenticated. The token information displayed below is\n\
             already stored in the token helper. You do NOT need to run \"strongroom login\"\n\
             again. Future Strongroom requests will automatically use this token."
        );
    }

    #[test]
    fn go_bools() {
        assert_eq!(go_bool("false"), Some(false));
        assert_eq!(go_bool("T"), Some(true));
        assert_eq!(go_bool("yes"), None);
    }
}
