//! Rotating a credential that must keep working: a toy HTTP service on loopback accepts API keys;
//! the rotation scheduler makes a new key, installs it next to the old one, proves it works,
//! makes it current in the vault's KV store (where the application reads it), and revokes the
//! old key only after the grace period — so both keys work for a while, then only the new one.
//! Time is simulated: a month passes in a blink.
//!
//! `cargo run --example rotate_api_key` (scripts/test.sh runs it too; it fails if the story
//! does not end with only the new key accepted)

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use axum::http::{HeaderMap, StatusCode};
use serde_json::json;
use strongroom_core::{InitRequest, Vault};
use strongroom_rotation::{
    LogSink, ManualClock, Rotator, Schedule, Scheduler, SchedulerConfig, StepContext, StepError,
    StepResult,
};
use strongroom_storage::MemoryStorage;

const DAY: u64 = 86_400;
const ADMIN: &str = "admin-token";

/// The toy service: it accepts the API keys in its set.
async fn serve_toy_service(keys: Arc<Mutex<HashSet<String>>>) -> Result<String, std::io::Error> {
    let check = keys.clone();
    let admin = keys.clone();
    let app = axum::Router::new()
        .route(
            "/whoami",
            axum::routing::get(move |headers: HeaderMap| {
                let keys = check.clone();
                async move {
                    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
                    let ok = key.is_some_and(|k| keys.lock().is_ok_and(|set| set.contains(k)));
                    if ok {
                        StatusCode::OK
                    } else {
                        StatusCode::UNAUTHORIZED
                    }
                }
            }),
        )
        .route(
            "/admin/keys/{key}",
            axum::routing::put({
                let keys = admin.clone();
                move |headers: HeaderMap, axum::extract::Path(key): axum::extract::Path<String>| {
                    let keys = keys.clone();
                    async move {
                        admin_change(&headers, || keys.lock().map(|mut s| s.insert(key)).is_ok())
                    }
                }
            })
            .delete({
                let keys = admin;
                move |headers: HeaderMap, axum::extract::Path(key): axum::extract::Path<String>| {
                    let keys = keys.clone();
                    async move {
                        admin_change(&headers, || keys.lock().map(|mut s| s.remove(&key)).is_ok())
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(format!("http://{addr}"))
}

fn admin_change(headers: &HeaderMap, change: impl FnOnce() -> bool) -> StatusCode {
    if headers.get("x-admin-token").and_then(|v| v.to_str().ok()) != Some(ADMIN) {
        return StatusCode::FORBIDDEN;
    }
    if change() {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    }
}

/// Rotates the service's API key; the current key lives in the vault at `secret/toy`.
struct ApiKeyRotator {
    vault: Vault,
    token: String,
    service: String,
    http: reqwest::Client,
}

fn failed(what: &str, err: impl std::fmt::Display) -> StepError {
    StepError::new(format!("{what}: {err}"))
}

impl ApiKeyRotator {
    fn pending_path(ctx: &StepContext) -> String {
        format!(
            "secret/toy-pending/{}",
            ctx.pending.as_deref().unwrap_or("none")
        )
    }

    /// The pending key's value, as `create` stored it.
    async fn pending_key(&self, ctx: &StepContext) -> Result<String, StepError> {
        let read = self
            .vault
            .read(&self.token, &Self::pending_path(ctx))
            .await
            .map_err(|e| failed("reading the pending key", e))?;
        read.data
            .and_then(|d| d.get("api_key").and_then(|v| v.as_str()).map(str::to_owned))
            .ok_or_else(|| StepError::new("the pending key is missing"))
    }
}

#[async_trait]
impl Rotator for ApiKeyRotator {
    async fn create(&self, ctx: &StepContext) -> StepResult {
        // Idempotent: a key made before a crash is kept.
        if self.pending_key(ctx).await.is_ok() {
            return Ok(());
        }
        let bytes: [u8; 24] = ring::rand::generate(&ring::rand::SystemRandom::new())
            .map_err(|_| StepError::new("no randomness"))?
            .expose();
        let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        self.vault
            .write(
                &self.token,
                &Self::pending_path(ctx),
                json!({"api_key": key}),
            )
            .await
            .map(drop)
            .map_err(|e| failed("storing the pending key", e))
    }

    async fn set(&self, ctx: &StepContext) -> StepResult {
        let key = self.pending_key(ctx).await?;
        let status = self
            .http
            .put(format!("{}/admin/keys/{key}", self.service))
            .header("x-admin-token", ADMIN)
            .send()
            .await
            .map_err(|e| failed("installing the key", e.without_url()))?
            .status();
        if status.is_success() {
            Ok(())
        } else {
            Err(StepError::new(format!("installing the key: {status}")))
        }
    }

    async fn test(&self, ctx: &StepContext) -> StepResult {
        let key = self.pending_key(ctx).await?;
        let status = self
            .http
            .get(format!("{}/whoami", self.service))
            .header("x-api-key", key)
            .send()
            .await
            .map_err(|e| failed("calling the service", e.without_url()))?
            .status();
        if status.is_success() {
            Ok(())
        } else {
            Err(StepError::new(format!("the new key is refused: {status}")))
        }
    }

    async fn finish(&self, ctx: &StepContext) -> StepResult {
        let key = self.pending_key(ctx).await?;
        self.vault
            .write(
                &self.token,
                "secret/toy",
                json!({"api_key": key, "version": ctx.pending}),
            )
            .await
            .map(drop)
            .map_err(|e| failed("promoting the key", e))
    }

    async fn revoke_previous(&self, ctx: &StepContext) -> StepResult {
        let Some(previous) = &ctx.previous else {
            return Ok(());
        };
        let path = format!("secret/toy-pending/{previous}");
        let read = self
            .vault
            .read(&self.token, &path)
            .await
            .map_err(|e| failed("reading", e))?;
        if let Some(key) = read
            .data
            .and_then(|d| d.get("api_key").and_then(|v| v.as_str()).map(str::to_owned))
        {
            let status = self
                .http
                .delete(format!("{}/admin/keys/{key}", self.service))
                .header("x-admin-token", ADMIN)
                .send()
                .await
                .map_err(|e| failed("revoking the key", e.without_url()))?
                .status();
            if !status.is_success() {
                return Err(StepError::new(format!("revoking the key: {status}")));
            }
        }
        self.vault
            .delete(&self.token, &path)
            .await
            .map(drop)
            .map_err(|e| failed("forgetting the key", e))
    }
}

async fn works(http: &reqwest::Client, service: &str, key: &str) -> Result<bool, reqwest::Error> {
    Ok(http
        .get(format!("{service}/whoami"))
        .header("x-api-key", key)
        .send()
        .await?
        .status()
        .is_success())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The vault the application reads its credential from.
    let vault = Vault::builder(MemoryStorage::new()).build()?;
    let init = vault.init(InitRequest::new(1, 1)).await?;
    let key = init.keys.first().ok_or("init returned no key")?;
    vault.unseal(key.expose_secret()).await?;
    let token = init.root_token.expose_secret().to_owned();
    vault
        .write(&token, "sys/mounts/secret", json!({"type": "kv"}))
        .await?;

    // The service, with the key it was deployed with, also recorded in the vault.
    let keys: Arc<Mutex<HashSet<String>>> = Arc::default();
    keys.lock()
        .map_err(|_| "lock")?
        .insert("initial-key".into());
    let service = serve_toy_service(keys.clone()).await?;
    vault
        .write(
            &token,
            "secret/toy-pending/v0",
            json!({"api_key": "initial-key"}),
        )
        .await?;
    vault
        .write(
            &token,
            "secret/toy",
            json!({"api_key": "initial-key", "version": "v0"}),
        )
        .await?;

    let http = reqwest::Client::new();
    let clock = Arc::new(ManualClock::new(SystemTime::now()));
    let scheduler = Scheduler::new(
        Arc::new(MemoryStorage::new()),
        clock.clone(),
        Arc::new(LogSink),
        SchedulerConfig::default(),
    )?;
    let schedule =
        Schedule::every(Duration::from_secs(30 * DAY))?.grace(Duration::from_secs(DAY))?;
    let rotator = ApiKeyRotator {
        vault: vault.clone(),
        token: token.clone(),
        service: service.clone(),
        http: http.clone(),
    };
    scheduler
        .register("toy", schedule, Arc::new(rotator), Some("v0".into()))
        .await?;

    let current = |vault: Vault, token: String| async move {
        let read = vault.read(&token, "secret/toy").await?;
        let key = read
            .data
            .and_then(|d| d.get("api_key").and_then(|v| v.as_str()).map(str::to_owned))
            .unwrap_or_default();
        Ok::<_, strongroom_core::VaultError>(key)
    };

    let old = current(vault.clone(), token.clone()).await?;
    println!(
        "day 0: the application uses {old}; the service accepts it: {}",
        works(&http, &service, &old).await?
    );

    clock.advance(Duration::from_secs(31 * DAY));
    let report = scheduler.tick().await?;
    let new = current(vault.clone(), token.clone()).await?;
    println!(
        "day 31: rotated {} secret(s); the application now reads {new}",
        report.rotated
    );
    println!(
        "        grace period: old key accepted: {}, new key accepted: {}",
        works(&http, &service, &old).await?,
        works(&http, &service, &new).await?
    );

    clock.advance(Duration::from_secs(2 * DAY));
    let report = scheduler.tick().await?;
    println!(
        "day 33: revoked {} previous key(s); old key accepted: {}, new key accepted: {}",
        report.revoked,
        works(&http, &service, &old).await?,
        works(&http, &service, &new).await?
    );
    let state = scheduler.state("toy").await?.ok_or("no state")?;
    println!(
        "        labels: current {:?}, previous {:?}",
        state.labels.current, state.labels.previous
    );
    // The example is also a check (scripts/test.sh runs it): fail loudly if the story is wrong.
    if old == new || works(&http, &service, &old).await? || !works(&http, &service, &new).await? {
        return Err("the rotation did not end with only the new key accepted".into());
    }
    Ok(())
}
