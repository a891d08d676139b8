//! `strongroom server`: dev mode, a config file, or the embedded default; plain HTTP or TLS
//! (rustls on ring) listeners; Shamir or transit auto-unseal; declared audit devices;
//! structured logs; graceful shutdown on Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use serde_json::json;
use strongroom_core::{FileAuditDevice, HaConfig, InitRequest, Vault, VaultBuilder};
use strongroom_storage::{
    HaNode, HaTiming, MemoryStorage, PostgresConfig, PostgresHa, PostgresHaConfig, PostgresStorage,
    SqliteStorage,
};

use strongroom_cli::config::{
    self, Listener, LogConfig, SealConfig, ServerConfig, StorageConfig, TlsFiles,
};

/// How long in-flight requests get to finish once a shutdown is asked for.
const GRACE: Duration = Duration::from_secs(30);

/// The `server` subcommand's arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct ServerArgs {
    /// Development mode: in-memory storage, initialised and unsealed, KV v2 at secret/.
    #[arg(long)]
    pub(crate) dev: bool,
    /// The root token id in dev mode (default: a random token).
    #[arg(long)]
    pub(crate) dev_root_token_id: Option<String>,
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8200")]
    dev_listen_address: SocketAddr,
    /// The SQLite database file when neither dev mode nor a config file is given.
    #[arg(long, default_value = "strongroom.db")]
    storage_path: PathBuf,
    /// A Vault-style HCL configuration file (storage, listeners, seal, audit, logging).
    #[arg(long, conflicts_with = "dev")]
    pub(crate) config: Option<PathBuf>,
    /// Log level (trace, debug, info, warn, error); overrides the config file.
    #[arg(long)]
    log_level: Option<String>,
    /// Log format (standard or json); overrides the config file.
    #[arg(long, value_parser = ["standard", "json"])]
    log_format: Option<String>,
}

/// Sets up `tracing` once: the level from the config (or `RUST_LOG` when set), text or JSON
/// lines on stderr.
fn init_logging(log: &LogConfig, args: &ServerArgs) {
    let level = args.log_level.clone().unwrap_or_else(|| log.level.clone());
    let json = args.log_format.as_deref().map_or(log.json, |f| f == "json");
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    // A second initialisation (never in the binary) is not worth failing over.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Runs the server until Ctrl-C or SIGTERM.
pub(crate) async fn run(args: ServerArgs) -> Result<()> {
    if args.dev {
        init_logging(&LogConfig::default(), &args);
        return dev(args).await;
    }
    let config = match &args.config {
        Some(path) => config::load(path)?,
        None => ServerConfig {
            storage: StorageConfig::Sqlite {
                path: args.storage_path.clone(),
            },
            listeners: vec![Listener {
                address: args.dev_listen_address,
                tls: None,
                http: strongroom_http::Options::default(),
                http_read_header_timeout: config::DEFAULT_READ_HEADER_TIMEOUT,
                max_connections: None,
                http_write_stall_timeout: config::DEFAULT_WRITE_STALL_TIMEOUT,
            }],
            api_addr: None,
            cluster_addr: None,
            audit_dir: None,
            unsafe_allow_api_audit_creation: false,
            seal: SealConfig::Shamir,
            audit: Vec::new(),
            log: LogConfig::default(),
            user_lockouts: strongroom_core::UserLockouts::new(),
            warnings: Vec::new(),
        },
    };
    init_logging(&config.log, &args);
    for warning in &config.warnings {
        tracing::warn!("{warning}");
    }
    // Certificates are read before anything else starts, so a bad file stops the server here.
    let mut listeners = Vec::new();
    for listener in &config.listeners {
        let tls =
            match &listener.tls {
                Some(files) => Some(tls_config(files).await.with_context(|| {
                    format!("setting up TLS for listener {}", listener.address)
                })?),
                None => None,
            };
        listeners.push(Serving {
            address: listener.address,
            tls,
            http: listener.http,
            connections: crate::listen::ConnectionLimits {
                header_read_timeout: listener.http_read_header_timeout,
                write_stall_timeout: listener.http_write_stall_timeout,
                max_connections: listener
                    .max_connections
                    .unwrap_or_else(crate::listen::default_max_connections),
            },
        });
    }
    let mut builder = open_storage(&config)
        .await?
        .user_lockouts(config.user_lockouts.clone());
    if config.unsafe_allow_api_audit_creation {
        builder = builder.audit_dir("/");
    } else if let Some(dir) = &config.audit_dir {
        builder = builder.audit_dir(dir);
    }
    for device in &config.audit {
        builder = builder.declared_audit_device(
            &device.path,
            &device.description,
            Arc::new(FileAuditDevice::new(&device.file_path)),
        );
    }
    let auto_unseal = matches!(config.seal, SealConfig::Transit { .. });
    if let SealConfig::Transit {
        address,
        token,
        key_name,
        mount_path,
        namespace,
        tls_ca_cert,
    } = &config.seal
    {
        let mut transit = strongroom_seal::TransitConfig::new(
            address.clone(),
            strongroom_seal::SecretString::new(token.clone()),
            key_name.clone(),
        )
        .mount_path(mount_path.clone());
        if let Some(namespace) = namespace {
            transit = transit.namespace(namespace.clone());
        }
        if let Some(ca) = tls_ca_cert {
            transit = transit.ca_pem(
                std::fs::read(ca).with_context(|| format!("reading seal CA {}", ca.display()))?,
            );
        }
        let seal = strongroom_seal::TransitSeal::new(transit).context("the transit seal")?;
        builder = builder.seal(Arc::new(seal));
    }
    let vault = builder.build().context("the server configuration")?;
    let status = vault.seal_status().await?;
    println!("==> Strongroom server: {}", describe(&config.storage));
    for serving in &listeners {
        let scheme = if serving.tls.is_some() {
            "https"
        } else {
            "http"
        };
        println!("    Listener: {scheme}://{}", serving.address);
    }
    if let Some(api_addr) = &config.api_addr {
        println!("    Api Address: {api_addr}");
    }
    if !status.initialized {
        println!(
            "    Not initialised: run `strongroom operator init` (with STRONGROOM_ADDR or \
             VAULT_ADDR set to a listener)."
        );
    } else if auto_unseal {
        tokio::spawn(keep_auto_unsealing(vault.clone()));
    } else if status.sealed {
        println!(
            "    Sealed: run `strongroom operator unseal` with {} of the unseal keys.",
            status.t
        );
    }
    let served = serve(vault.clone(), listeners).await;
    if vault.ha_enabled() {
        // Hand the lock over now rather than when its lease runs out.
        vault.seal().await;
    }
    served
}

/// Vault's dev mode: in memory, initialised, unsealed, KV v2 at `secret/` and nothing else
/// mounted, so a client's first `sys/mounts/transit` succeeds as it does against Vault.
async fn dev(args: ServerArgs) -> Result<()> {
    // Dev mode allows API audit devices anywhere the process can write, as Vault's does.
    let vault = Vault::builder(MemoryStorage::new())
        .audit_dir("/")
        .build()?;
    let init = vault.init(InitRequest::new(1, 1)).await?;
    let key = init
        .keys_base64
        .first()
        .map(|k| k.expose_secret().to_owned())
        .context("init returned no unseal key")?;
    vault.unseal(&key).await?;
    let root = match &args.dev_root_token_id {
        Some(id) => {
            vault.dev_root_token(id).await?;
            // As Vault's dev mode does: the chosen id is then the only root token.
            vault
                .write(
                    init.root_token.expose_secret(),
                    "auth/token/revoke-self",
                    json!({}),
                )
                .await?;
            id.clone()
        }
        None => init.root_token.expose_secret().to_owned(),
    };
    vault
        .write(
            &root,
            "sys/mounts/secret",
            json!({"type": "kv", "options": {"version": "2"}}),
        )
        .await?;
    println!("==> Strongroom server started in dev mode. Do not use it in production.");
    println!();
    println!("    Api Address: http://{}", args.dev_listen_address);
    println!("    Unseal Key: {key}");
    println!("    Root Token: {root}");
    println!();
    println!("    export VAULT_ADDR='http://{}'", args.dev_listen_address);
    serve(
        vault,
        vec![Serving {
            address: args.dev_listen_address,
            tls: None,
            http: strongroom_http::Options::default(),
            connections: crate::listen::ConnectionLimits {
                header_read_timeout: config::DEFAULT_READ_HEADER_TIMEOUT,
                write_stall_timeout: config::DEFAULT_WRITE_STALL_TIMEOUT,
                max_connections: crate::listen::default_max_connections(),
            },
        }],
    )
    .await
}

/// Unseals through the seal at startup, retrying (every 5 s, logged) while the key service
/// cannot be reached, as Vault does; stops once unsealed.
async fn keep_auto_unsealing(vault: Vault) {
    loop {
        match vault.auto_unseal().await {
            Ok(_) => {
                tracing::info!("unsealed through the seal");
                return;
            }
            Err(err) => {
                tracing::warn!(error = %err, "auto-unseal failed; retrying in 5 s");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    }
}

/// A rustls server configuration (ring provider) from the listener's PEM files.
async fn tls_config(files: &TlsFiles) -> Result<tokio_rustls::TlsAcceptor> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert_file)
        .and_then(Iterator::collect)
        .with_context(|| format!("reading tls_cert_file {}", files.cert_file.display()))?;
    if certs.is_empty() {
        anyhow::bail!(
            "tls_cert_file {} holds no certificate",
            files.cert_file.display()
        );
    }
    let key = PrivateKeyDer::from_pem_file(&files.key_file)
        .with_context(|| format!("reading tls_key_file {}", files.key_file.display()))?;
    let versions: &[&rustls::SupportedProtocolVersion] = if files.tls13_only {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let mut server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(versions)
    .context("TLS protocol versions")?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .context("the certificate and key do not make a TLS identity")?;
    // HTTP/1.1 only: the limits of every connection are those of the accept loop.
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(server)))
}

/// Opens the configured storage and starts a vault builder over it (one node of an HA
/// cluster when the PostgreSQL stanza says `ha_enabled`).
async fn open_storage(config: &ServerConfig) -> Result<VaultBuilder> {
    Ok(match &config.storage {
        StorageConfig::Sqlite { path } => Vault::builder(
            SqliteStorage::open(path)
                .await
                .with_context(|| format!("opening SQLite storage {}", path.display()))?,
        ),
        StorageConfig::Postgresql {
            connection_url,
            table,
            max_parallel,
            ha,
        } => {
            let mut pg = PostgresConfig::new(connection_url.clone());
            if let Some(table) = table {
                pg = pg.table(table.clone());
            }
            if let Some(max) = max_parallel {
                pg = pg.max_connections(*max);
            }
            // The URL may carry a password: the error names the table, not the URL.
            let store = PostgresStorage::connect_with(pg)
                .await
                .context("connecting to PostgreSQL storage")?;
            match ha {
                None => Vault::builder(store),
                Some(settings) => {
                    let lock = PostgresHa::connect(&store, ha_config(settings))
                        .await
                        .context("setting up PostgreSQL high availability")?;
                    let api_addr = config.api_addr.clone().unwrap_or_default();
                    let node = HaNode::new(
                        strongroom_core::new_request_id(),
                        api_addr.clone(),
                        config.cluster_addr.clone().unwrap_or(api_addr),
                    )
                    .describe(hostname(), env!("CARGO_PKG_VERSION"));
                    Vault::builder_ha(HaConfig::new(Arc::new(lock), node))
                }
            }
        }
        StorageConfig::Inmem => Vault::builder(MemoryStorage::new()),
    })
}

/// The lock's settings from the stanza (defaults where it is silent).
fn ha_config(settings: &config::HaSettings) -> PostgresHaConfig {
    let mut timing = HaTiming::default();
    if let Some(lease) = settings.lease {
        timing = timing.lease(lease);
    }
    if let Some(renew) = settings.renew_interval {
        timing = timing.renew_interval(renew);
    }
    if let Some(retry) = settings.retry_interval {
        timing = timing.retry_interval(retry);
    }
    let mut ha = PostgresHaConfig::default().timing(timing);
    if let Some(table) = &settings.table {
        ha = ha.table(table.clone());
    }
    ha
}

/// This machine's name, for `sys/ha-status`.
fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// The storage in words, for the startup banner (no connection URL: it may hold a password).
fn describe(storage: &StorageConfig) -> String {
    match storage {
        StorageConfig::Sqlite { path } => format!("SQLite at {}", path.display()),
        StorageConfig::Postgresql { table, ha, .. } => format!(
            "PostgreSQL, table {}{}",
            table.as_deref().unwrap_or("strongroom_kv"),
            match ha {
                Some(ha) => format!(
                    ", high availability (lock table {})",
                    ha.table.as_deref().unwrap_or("strongroom_ha_locks")
                ),
                None => String::new(),
            }
        ),
        StorageConfig::Inmem => "in memory (lost when the server stops)".to_owned(),
    }
}

/// A listener ready to serve: its address, TLS, router options and connection limits.
struct Serving {
    address: SocketAddr,
    tls: Option<tokio_rustls::TlsAcceptor>,
    http: strongroom_http::Options,
    connections: crate::listen::ConnectionLimits,
}

/// Serves the API on every listener until Ctrl-C or SIGTERM; in-flight requests get
/// [`GRACE`] to finish. Every address is bound before any is served, so a taken port stops
/// the server at once rather than leaving it half up.
async fn serve(vault: Vault, listeners: Vec<Serving>) -> Result<()> {
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut bound = Vec::new();
    for serving in listeners {
        let addr = serving.address;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("listening on {addr}"))?;
        bound.push((listener, serving));
    }
    let mut servers = tokio::task::JoinSet::new();
    for (listener, serving) in bound {
        let app = strongroom_http::router_with(vault.clone(), serving.http);
        tracing::info!(addr = %serving.address, max_connections = serving.connections.max_connections, "listening");
        servers.spawn(crate::listen::serve(
            listener,
            app,
            serving.tls,
            serving.connections,
            stopped.clone(),
            GRACE,
        ));
    }
    tokio::select! {
        () = shutdown_signal() => tracing::info!("shutting down"),
        // A listener that fails stops the whole server rather than leaving it half up.
        Some(done) = servers.join_next() => {
            let _ = stop.send(true);
            done.context("listener task")?.context("serving")?;
        }
    }
    let _ = stop.send(true);
    while let Some(done) = servers.join_next().await {
        done.context("listener task")?.context("serving")?;
    }
    Ok(())
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
