//! The backend conformance suite catches what it says it checks: a toy engine on the path
//! framework passes, and each way of breaking it (a handler that ignores the declarations, an
//! undeclared operation answered, a wrongly typed field accepted or refused in other words,
//! storage written before validation, a declared endpoint not served, an unknown path served,
//! a forgotten existence check or sudo flag, a shadowed endpoint) fails the suite.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::collections::BTreeSet;
use std::sync::Mutex;

use async_trait::async_trait;
use serde_json::{Value, json};
use strongroom_logical::testing::{Conformance, assert_conformance, context};
use strongroom_logical::{
    Backend, Context, Endpoint, EndpointInfo, Endpoints, Field, FieldType, Fields, LogicalError,
    Operation, Request, Response, Result,
};
use strongroom_storage::Storage;

/// How the toy engine misbehaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Flaw {
    None,
    /// `handle` answers every request with an empty response.
    IgnoresDeclarations,
    /// A delete of `admin/rotate` (declared write-only) succeeds.
    ServesUndeclaredDelete,
    /// An object for the `Int` field `count` is dropped instead of refused.
    AcceptsBadInt,
    /// Refusals are reworded.
    WrongWording,
    /// Every request is written to storage before the framework sees it.
    WritesBeforeValidating,
    /// `admin/rotate` is declared but `handle` serves none of its operations.
    DropsEndpoint,
    /// `no-such-path-xyz` is answered.
    ServesUnknownPath,
    /// `Backend::exists` is not forwarded to the declarations.
    ForgetsExistence,
    /// `Backend::needs_sudo` is not forwarded to the declarations.
    ForgetsSudo,
    /// `items/special` is declared after `items/{name}`, which takes its path.
    Shadowed,
    /// `versions/{name}/{version?}` is declared after `versions/{name}`, which takes the path
    /// without a version.
    PartlyShadowed,
}

#[derive(Debug)]
struct Toy {
    flaw: Flaw,
    endpoints: Endpoints<Toy>,
    /// Every path `handle` was given.
    seen: Mutex<BTreeSet<String>>,
}

impl Toy {
    fn new(flaw: Flaw) -> Self {
        let mut endpoints = vec![
            Endpoint::<Toy>::new("items/?").list(|t, ctx, f| Box::pin(t.list(ctx, f))),
            Endpoint::<Toy>::new("items/{name}")
                .field("ttl", Field::new(FieldType::DurationSecond, "A TTL."))
                .field("count", Field::new(FieldType::Int, "A count.").default(1))
                .field("enabled", Field::new(FieldType::Bool, "A switch."))
                .field("tags", Field::new(FieldType::CommaStringSlice, "Tags."))
                .field("ports", Field::new(FieldType::CommaIntSlice, "Ports."))
                .field("meta", Field::new(FieldType::Map, "Metadata."))
                .field("labels", Field::new(FieldType::KvPairs, "Labels."))
                .field("note", Field::new(FieldType::String, "A note."))
                .field("batch", Field::new(FieldType::Slice, "Anything."))
                .read(|t, ctx, f| Box::pin(t.read(ctx, f)))
                .write(|t, ctx, f| Box::pin(t.write(ctx, f)))
                .delete(|t, ctx, f| Box::pin(t.delete(ctx, f)))
                .exists(|t, ctx, f| Box::pin(t.item_exists(ctx, f))),
            Endpoint::<Toy>::new("admin/rotate")
                .write(|t, ctx, f| Box::pin(t.ok(ctx, f)))
                .sudo(),
            Endpoint::<Toy>::new("login")
                .field("password", Field::new(FieldType::SecretString, "A secret."))
                .write(|t, ctx, f| Box::pin(t.login(ctx, f)))
                .unauthenticated(),
        ];
        match flaw {
            Flaw::Shadowed => endpoints.push(
                Endpoint::<Toy>::new("items/special").read(|t, ctx, f| Box::pin(t.ok(ctx, f))),
            ),
            Flaw::PartlyShadowed => {
                endpoints.push(
                    Endpoint::<Toy>::new("versions/{name}")
                        .read(|t, ctx, f| Box::pin(t.ok(ctx, f))),
                );
                endpoints.push(
                    Endpoint::<Toy>::new("versions/{name}/{version?}")
                        .read(|t, ctx, f| Box::pin(t.ok(ctx, f))),
                );
            }
            _ => {}
        }
        let endpoints = Endpoints::new("A toy engine.", endpoints);
        assert!(
            endpoints.problems().is_empty(),
            "{:?}",
            endpoints.problems()
        );
        Self {
            flaw,
            endpoints,
            seen: Mutex::default(),
        }
    }

    async fn list(&self, ctx: &Context, _fields: Fields<'_>) -> Result<Response> {
        let keys = ctx.storage.list("items/").await?;
        Ok(Response::with_data(
            json!({"keys": keys}).as_object().unwrap().clone(),
        ))
    }

    async fn read(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name: &str = fields.get("name")?;
        match ctx.storage.get(&format!("items/{name}")).await? {
            Some(bytes) => Ok(Response::with_data(serde_json::from_slice(&bytes).unwrap())),
            None => Ok(Response::empty()),
        }
    }

    async fn write(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name: &str = fields.get("name")?;
        let count: i64 = fields.get("count")?;
        let item = json!({"count": count, "note": fields.get::<&str>("note")?});
        ctx.storage
            .put(&format!("items/{name}"), serde_json::to_vec(&item).unwrap())
            .await?;
        Ok(Response::empty())
    }

    async fn delete(&self, ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let name: &str = fields.get("name")?;
        ctx.storage.delete(&format!("items/{name}")).await?;
        Ok(Response::empty())
    }

    async fn item_exists(&self, ctx: &Context, fields: Fields<'_>) -> Result<bool> {
        let name: &str = fields.get("name")?;
        Ok(ctx.storage.get(&format!("items/{name}")).await?.is_some())
    }

    async fn login(&self, _ctx: &Context, fields: Fields<'_>) -> Result<Response> {
        let password: strongroom_logical::SecretText = fields.get("password")?;
        if password.expose() == "open sesame" {
            Ok(Response::empty())
        } else {
            Err(LogicalError::InvalidCredentials("invalid password".into()))
        }
    }

    async fn ok(&self, _ctx: &Context, _fields: Fields<'_>) -> Result<Response> {
        Ok(Response::empty())
    }
}

#[async_trait]
impl Backend for Toy {
    async fn handle(&self, ctx: &Context, mut request: Request) -> Result<Response> {
        self.seen.lock().unwrap().insert(request.path.clone());
        match self.flaw {
            Flaw::IgnoresDeclarations => return Ok(Response::empty()),
            Flaw::ServesUndeclaredDelete
                if request.operation == Operation::Delete && request.path == "admin/rotate" =>
            {
                return Ok(Response::empty());
            }
            Flaw::AcceptsBadInt if request.data.get("count").is_some_and(Value::is_object) => {
                request.data.remove("count");
            }
            Flaw::WritesBeforeValidating => {
                let body = serde_json::to_vec(&request.data).unwrap();
                ctx.storage.put("requests/last", body).await?;
            }
            Flaw::DropsEndpoint if request.path == "admin/rotate" => {
                return Err(LogicalError::UnsupportedOperation);
            }
            Flaw::ServesUnknownPath if request.path == "no-such-path-xyz" => {
                return Ok(Response::empty());
            }
            _ => {}
        }
        let answer = self.endpoints.handle(self, ctx, request).await;
        match (self.flaw, answer) {
            (Flaw::WrongWording, Err(LogicalError::InvalidRequest(_))) => {
                Err(LogicalError::invalid("bad input"))
            }
            (_, answer) => answer,
        }
    }

    async fn exists(&self, ctx: &Context, request: &Request) -> Result<Option<bool>> {
        if self.flaw == Flaw::ForgetsExistence {
            return Ok(None);
        }
        self.endpoints.exists(self, ctx, request).await
    }

    fn is_unauthenticated(&self, path: &str) -> bool {
        self.endpoints.is_unauthenticated(path)
    }

    fn needs_sudo(&self, path: &str) -> bool {
        self.flaw != Flaw::ForgetsSudo && self.endpoints.needs_sudo(path)
    }

    fn endpoints(&self) -> &[EndpointInfo] {
        self.endpoints.infos()
    }
}

async fn run(flaw: Flaw) {
    let toy = Toy::new(flaw);
    let ctx = context("toy/");
    assert_conformance(&toy, &ctx).await;
}

#[tokio::test]
async fn a_conforming_engine_passes_and_every_check_does_work() {
    let toy = Toy::new(Flaw::None);
    let ctx = context("toy/");
    let report = assert_conformance(&toy, &ctx).await;
    assert_eq!(report.endpoints, 4);
    // items/ and items (the list endpoint's `/?`), items/sample, admin/rotate, login.
    assert_eq!(report.paths, 5);
    // list twice; read, create, update, delete; two writes (create and update) twice.
    assert_eq!(report.served, 2 + 4 + 2 + 2);
    assert_eq!(report.refused_operations, 6 * 5 - report.served);
    // items/sample's create and update, admin/rotate's, login's.
    assert_eq!(report.existence_checks, 6);
    // items/sample: ttl 4 values, count 3, enabled 2, tags 2, ports 2, meta 2, labels 2, note 2
    // (batch takes anything), each by read, create, update and delete; login: password 2 values
    // by create and update; items/: no body fields.
    assert_eq!(
        report.bad_fields,
        (4 + 3 + 2 + 2 + 2 + 2 + 2 + 2) * 4 + 2 * 2
    );
    assert!(report.unknown_paths >= 8, "{report:?}");
}

#[tokio::test]
#[should_panic(expected = "must be `unsupported operation`")]
async fn a_handler_that_ignores_its_declarations_fails() {
    run(Flaw::IgnoresDeclarations).await;
}

#[tokio::test]
#[should_panic(expected = "admin/rotate: delete is not declared by admin/rotate")]
async fn an_undeclared_operation_answered_fails() {
    run(Flaw::ServesUndeclaredDelete).await;
}

#[tokio::test]
#[should_panic(expected = "with count = {\"not\":\"a scalar\"} must be refused with")]
async fn a_wrongly_typed_field_accepted_fails() {
    run(Flaw::AcceptsBadInt).await;
}

#[tokio::test]
#[should_panic(expected = "Field validation failed: error converting input for field \\\"ttl\\\"")]
async fn a_refusal_in_other_words_fails() {
    run(Flaw::WrongWording).await;
}

#[tokio::test]
#[should_panic(expected = "changed storage: added [], removed [], changed [\"requests/last\"]")]
async fn storage_written_before_validation_fails() {
    run(Flaw::WritesBeforeValidating).await;
}

#[tokio::test]
#[should_panic(
    expected = "admin/rotate: create is declared by admin/rotate, but the backend answers UnsupportedOperation"
)]
async fn a_declared_endpoint_not_served_fails() {
    run(Flaw::DropsEndpoint).await;
}

#[tokio::test]
#[should_panic(expected = "\"no-such-path-xyz\": no endpoint declares it")]
async fn an_unknown_path_served_fails() {
    run(Flaw::ServesUnknownPath).await;
}

#[tokio::test]
#[should_panic(expected = "items/sample: items/{name} declares an existence check")]
async fn a_forgotten_existence_check_fails() {
    run(Flaw::ForgetsExistence).await;
}

#[tokio::test]
#[should_panic(expected = "admin/rotate: Backend::needs_sudo disagrees")]
async fn a_forgotten_sudo_flag_fails() {
    run(Flaw::ForgetsSudo).await;
}

#[tokio::test]
#[should_panic(
    expected = "items/special: an earlier endpoint takes its paths (\"items/special\" goes to items/{name})"
)]
async fn a_shadowed_endpoint_fails() {
    run(Flaw::Shadowed).await;
}

#[tokio::test]
#[should_panic(expected = "items/special: none of its example paths reaches it")]
async fn a_shadowed_endpoint_named_as_such_still_needs_a_path() {
    let toy = Toy::new(Flaw::Shadowed);
    let ctx = context("toy/");
    Conformance::new(&toy, &ctx)
        .shadowed("items/special", "a test")
        .run()
        .await;
}

#[tokio::test]
#[should_panic(expected = "versions/{name}/{version?}: an earlier endpoint takes its paths")]
async fn a_partly_shadowed_endpoint_fails_unless_named() {
    run(Flaw::PartlyShadowed).await;
}

#[tokio::test]
async fn a_partly_shadowed_endpoint_named_as_such_passes_on_its_other_paths() {
    let toy = Toy::new(Flaw::PartlyShadowed);
    let ctx = context("toy/");
    let report = Conformance::new(&toy, &ctx)
        .shadowed(
            "versions/{name}/{version?}",
            "versions/{name} serves the path without a version",
        )
        .run()
        .await;
    assert_eq!(report.endpoints, 6);
    // The five of the toy, versions/sample, versions/sample/sample.
    assert_eq!(report.paths, 7);
}

#[tokio::test]
#[should_panic(
    expected = "items/{name}: named shadowed (a test), but no earlier endpoint takes its paths"
)]
async fn an_unneeded_shadowing_exception_fails() {
    let toy = Toy::new(Flaw::None);
    let ctx = context("toy/");
    Conformance::new(&toy, &ctx)
        .shadowed("items/{name}", "a test")
        .run()
        .await;
}

#[tokio::test]
async fn samples_fill_the_captures() {
    // With `name` = "special", items/{name}'s path is items/special: the suite still passes
    // (nothing shadows it), and the engine was asked for that path, never for items/sample.
    let toy = Toy::new(Flaw::None);
    let ctx = context("toy/");
    Conformance::new(&toy, &ctx)
        .sample("name", "special")
        .run()
        .await;
    let seen = toy.seen.lock().unwrap();
    assert!(seen.contains("items/special"), "{seen:?}");
    assert!(!seen.contains("items/sample"), "{seen:?}");
    assert!(seen.contains("no-such-path-xyz"), "{seen:?}");
}
