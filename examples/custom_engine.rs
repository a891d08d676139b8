//! A secrets engine of your own, declared with the path framework, mounted in an embedded vault
//! and served through the same pipeline as the built-in ones: the ACL decides on its paths,
//! its `sudo` endpoint needs sudo, and the audit device records its requests with every secret
//! hashed. Checks itself: exits non-zero if anything is not as described.
//!
//! `cargo run -p strongroom-examples --example custom_engine`

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, json};
use strongroom_core::{
    AuditDevice, ErrorKind, InitRequest, MountRequest, TokenRequest, Vault, VaultError,
};
use strongroom_logical::{
    Backend, Context, Endpoint, EndpointInfo, Endpoints, Field, FieldType, Fields, Request,
    Response, Result, SecretText,
};
use strongroom_storage::{MemoryStorage, Storage as _};

/// Notes: `notes/<name>` holds a secret text and some tags; `purge` (sudo) deletes them all.
#[derive(Debug)]
struct Notes {
    endpoints: Endpoints<Notes>,
}

/// A note as stored (inside the vault's barrier, under the mount's own prefix).
#[derive(Serialize, Deserialize)]
struct Note {
    text: String,
    tags: Vec<String>,
}

impl Notes {
    fn new() -> Self {
        let endpoints = Endpoints::new(
            "Keeps secret notes.",
            vec![
                Endpoint::<Notes>::new("notes/{name}")
                    .field("name", Field::new(FieldType::String, "The note's name."))
                    .field(
                        "text",
                        Field::new(FieldType::SecretString, "The secret text."),
                    )
                    .field(
                        "tags",
                        Field::new(FieldType::CommaStringSlice, "Tags: a list or `a,b`."),
                    )
                    .read(|notes, ctx, fields| Box::pin(notes.read(ctx, fields)))
                    .write(|notes, ctx, fields| Box::pin(notes.write(ctx, fields)))
                    .delete(|notes, ctx, fields| Box::pin(notes.delete(ctx, fields)))
                    .exists(|notes, ctx, fields| Box::pin(notes.exists(ctx, fields)))
                    .synopsis("Read, write or delete one note."),
                Endpoint::<Notes>::new("purge")
                    .write(|notes, ctx, fields| Box::pin(notes.purge(ctx, fields)))
                    .sudo()
                    .synopsis("Delete every note."),
            ],
        );
        Self { endpoints }
    }

    fn key(fields: &Fields<'_>) -> Result<String> {
        let name: &str = fields.get("name")?;
        Ok(format!("note/{name}"))
    }

    async fn read(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let Some(note) = ctx.storage.get_json::<Note>(&Self::key(&fields)?).await? else {
            return Ok(Response::empty());
        };
        let mut data = Map::new();
        data.insert("text".into(), note.text.into());
        data.insert("tags".into(), note.tags.into());
        Ok(Response::with_data(data))
    }

    async fn write(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let text: SecretText = fields.get("text")?;
        let note = Note {
            text: text.expose().to_owned(),
            tags: fields.get("tags")?,
        };
        ctx.storage.put_json(&Self::key(&fields)?, &note).await?;
        Ok(Response::empty())
    }

    async fn delete(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        ctx.storage.delete(&Self::key(&fields)?).await?;
        Ok(Response::empty())
    }

    async fn exists(&self, ctx: &Context, fields: Fields<'_>) -> Result<bool> {
        Ok(ctx.storage.get(&Self::key(&fields)?).await?.is_some())
    }

    async fn purge(&self, ctx: &Context, _fields: Fields<'_>) -> Result<Response> {
        ctx.storage.clear().await?;
        Ok(Response::empty())
    }
}

#[async_trait]
impl Backend for Notes {
    async fn handle(&self, ctx: &Context, request: Request) -> Result<Response> {
        self.endpoints.handle(self, ctx, request).await
    }

    async fn exists(&self, ctx: &Context, request: &Request) -> Result<Option<bool>> {
        self.endpoints.exists(self, ctx, request).await
    }

    fn needs_sudo(&self, path: &str) -> bool {
        self.endpoints.needs_sudo(path)
    }

    fn is_unauthenticated(&self, path: &str) -> bool {
        self.endpoints.is_unauthenticated(path)
    }

    fn endpoints(&self) -> &[EndpointInfo] {
        self.endpoints.infos()
    }
}

/// An audit device keeping its lines in memory (a real one would ship them somewhere).
#[derive(Debug, Default)]
struct Lines(Mutex<Vec<String>>);

#[async_trait]
impl AuditDevice for Lines {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn write_line(&self, line: &[u8]) -> std::io::Result<()> {
        let line = String::from_utf8_lossy(line).into_owned();
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .push(line);
        Ok(())
    }
}

fn check(ok: bool, what: &str) -> std::result::Result<(), Box<dyn std::error::Error>> {
    if ok {
        println!("ok: {what}");
        Ok(())
    } else {
        Err(format!("FAILED: {what}").into())
    }
}

#[tokio::main]
async fn main() -> std::result::Result<(), Box<dyn std::error::Error>> {
    let audit = Arc::new(Lines::default());
    let vault = Vault::builder(MemoryStorage::new())
        .engine("notes", |_options: &Map<_, _>| {
            Ok(Arc::new(Notes::new()) as Arc<dyn Backend>)
        })
        .declared_audit_device("memory", "in-memory audit", audit.clone())
        .build()?;
    let init = vault.init(InitRequest::new(1, 1)).await?;
    for key in &init.keys {
        vault.unseal(key.expose_secret()).await?;
    }
    let root = &init.root_token;

    vault
        .sys()
        .mount(root, "notes", &MountRequest::new("notes"))
        .await?;
    let policy = r#"
        path "notes/notes/app" { capabilities = ["create", "read", "update"] }
        path "notes/purge"     { capabilities = ["update"] }
    "#;
    vault.policies().put(root, "notes-app", policy).await?;
    let app = vault
        .tokens()
        .create(root, &TokenRequest::new().policies(["notes-app"]))
        .await?
        .client_token;

    // Allowed: the one path its policy names. The framework decodes `tags` from `a,b`.
    let secret_text = "the vault combination is 12-34-56";
    vault
        .write(
            &app,
            "notes/notes/app",
            json!({"text": secret_text, "tags": "db,prod"}),
        )
        .await?;
    let read = vault.read(&app, "notes/notes/app").await?;
    let data = read.data.unwrap_or_default();
    check(
        data.get("text") == Some(&json!(secret_text)),
        "the app token reads its note back",
    )?;
    check(
        data.get("tags") == Some(&json!(["db", "prod"])),
        "tags decoded as a list",
    )?;

    // Denied by the ACL: a path the policy does not name.
    let other = vault
        .write(&app, "notes/notes/ops", json!({"text": "ops only"}))
        .await;
    check(
        matches!(other, Err(VaultError::PermissionDenied)),
        "the app token cannot write notes/notes/ops",
    )?;
    // Denied by sudo: the policy grants update on `purge`, but the endpoint is declared sudo.
    let purge = vault.write(&app, "notes/purge", json!({})).await;
    check(
        matches!(purge, Err(VaultError::PermissionDenied)),
        "the app token cannot purge (sudo endpoint)",
    )?;
    // A field of the wrong type is refused before the handler runs, in Vault's words.
    let bad = vault
        .write(
            root,
            "notes/notes/app",
            json!({"text": {"not": "a string"}}),
        )
        .await;
    check(
        matches!(&bad, Err(e) if e.kind() == ErrorKind::InvalidRequest
            && e.to_string().contains("error converting input for field \"text\"")),
        "a field of the wrong type is an invalid request",
    )?;
    // Root holds sudo.
    vault.write(root, "notes/purge", json!({})).await?;
    let gone = vault.read(root, "notes/notes/app").await?;
    check(gone.data.is_none(), "root purged the notes")?;

    // Audited like a built-in: the app's write has a request line, with secrets hashed.
    let lines = audit.0.lock().map_err(|_| "poisoned")?.clone();
    let write_line = lines.iter().find(|line| {
        line.contains("\"type\":\"request\"") && line.contains("\"path\":\"notes/notes/app\"")
    });
    check(
        write_line.is_some(),
        "the audit log has the note's write request",
    )?;
    check(
        write_line.is_some_and(|line| line.contains("hmac-sha256:")),
        "its fields are HMAC'd",
    )?;
    check(
        lines.iter().all(|line| {
            !line.contains(secret_text)
                && !line.contains(app.expose_secret())
                && !line.contains(root.expose_secret())
        }),
        "no audit line holds the note's text or a token in clear",
    )?;
    println!("{} audit lines", lines.len());
    Ok(())
}
