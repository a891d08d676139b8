//! The path framework: each endpoint declared once.
//!
//! An engine lists its [`Endpoint`]s — a pattern with named segments, the [`Field`]s it takes
//! with their [`FieldType`]s, defaults and descriptions, the operations it serves with a
//! [`Handler`] each, whether it needs `sudo` or no token, its existence check, and its help —
//! and keeps the compiled [`Endpoints`]. From that one list come:
//!
//! * routing ([`Endpoints::handle`]): the first endpoint whose pattern matches serves the request
//!   (Vault's order); no match is `unsupported path` (404), a match without the operation
//!   `unsupported operation` (405);
//! * field decoding: every declared field is converted by its type before the handler runs,
//!   exactly as Vault's `FieldData` does (`"3"` is 3, `"false"` is false, `""` the zero value);
//!   a value that does not convert is a 400 in Vault's words. The handler gets [`Fields`], typed
//!   getters that only work for declared names and fitting types, and never the raw body;
//! * Vault's warning `Endpoint ignored these unrecognized parameters: [a b]` for undeclared
//!   fields, on endpoints that do not [take arbitrary input](Endpoint::arbitrary_input);
//! * the existence checks ([`Endpoints::exists`]), the sudo and unauthenticated lists
//!   ([`Endpoints::needs_sudo`], [`Endpoints::is_unauthenticated`]), help
//!   ([`EndpointInfo::synopsis`]) and the OpenAPI document ([`openapi_document`]).
//!
//! Patterns are compiled into segment matchers when the endpoints are built; matching a request
//! allocates only the captures.
//!
//! ```
//! use async_trait::async_trait;
//! use serde_json::{Map, json};
//! use strongroom_logical::{
//!     Backend, Context, Endpoint, EndpointInfo, Endpoints, Field, FieldType, Fields, Operation,
//!     Request, Response, Result,
//! };
//!
//! /// Answers `greet/<name>` with a greeting, `times` times.
//! #[derive(Debug)]
//! struct Greeter {
//!     endpoints: Endpoints<Greeter>,
//! }
//!
//! impl Greeter {
//!     fn new() -> Self {
//!         let endpoints = Endpoints::new(
//!             "Greets people.",
//!             vec![
//!                 Endpoint::<Greeter>::new("greet/{name}")
//!                     .field("name", Field::new(FieldType::String, "Whom to greet."))
//!                     .field("times", Field::new(FieldType::Int, "How often.").default(1))
//!                     .read(|greeter, ctx, fields| Box::pin(greeter.greet(ctx, fields)))
//!                     .synopsis("Greet someone."),
//!             ],
//!         );
//!         Self { endpoints }
//!     }
//!
//!     async fn greet(&self, _ctx: &Context, fields: Fields<'_>) -> Result<Response> {
//!         let name: &str = fields.get("name")?;
//!         let times: u32 = fields.get("times")?;
//!         let mut data = Map::new();
//!         data.insert("greeting".into(), format!("hello {name}").repeat(times as usize).into());
//!         Ok(Response::with_data(data))
//!     }
//! }
//!
//! #[async_trait]
//! impl Backend for Greeter {
//!     async fn handle(&self, ctx: &Context, request: Request) -> Result<Response> {
//!         self.endpoints.handle(self, ctx, request).await
//!     }
//!     fn endpoints(&self) -> &[EndpointInfo] {
//!         self.endpoints.infos()
//!     }
//! }
//!
//! # tokio_test(async {
//! let greeter = Greeter::new();
//! assert!(greeter.endpoints.problems().is_empty());
//! let storage = std::sync::Arc::new(strongroom_storage::MemoryStorage::new());
//! let view = strongroom_logical::StorageView::new(storage, "logical/g/").unwrap();
//! let ctx = Context::new(view, "g/");
//! let request = Request::new(Operation::Read, "greet/bob")
//!     .with_data(json!({"times": "2", "colour": "red"}).as_object().unwrap().clone());
//! let response = greeter.handle(&ctx, request).await.unwrap();
//! assert_eq!(response.data.unwrap()["greeting"], "hello bobhello bob");
//! assert_eq!(
//!     response.warnings,
//!     ["Endpoint ignored these unrecognized parameters: [colour]"]
//! );
//! let bad = Request::new(Operation::Read, "greet/bob")
//!     .with_data(json!({"times": "many"}).as_object().unwrap().clone());
//! assert_eq!(
//!     greeter.handle(&ctx, bad).await.unwrap_err().to_string(),
//!     "Field validation failed: error converting input for field \"times\": \
//!      '' cannot parse value as 'int': strconv.ParseInt: invalid syntax"
//! );
//! # });
//! # fn tokio_test(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

mod endpoint;
mod fields;
mod openapi;
mod pattern;

pub use endpoint::{
    Endpoint, EndpointInfo, Endpoints, ExistenceCheck, ExistsFuture, Handler, HandlerFuture, Reply,
};
pub use fields::{Field, FieldSpec, FieldType, Fields, FromField, SecretText};
pub use openapi::openapi_document;

#[cfg(test)]
mod tests;
