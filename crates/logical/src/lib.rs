//! The engine interface of Strongroom.
//!
//! Implement [`Backend`] to write a secret engine or an auth method; the core mounts it, routes
//! requests to it with paths relative to the mount, gives it a [`StorageView`] confined to the
//! mount (inside the encryption barrier), tracks the leases it issues ([`SecretDescriptor`]) and
//! mints tokens from the logins it accepts ([`AuthDescriptor`]). Engines depend on this crate only,
//! never on `strongroom-core`. Errors are [`LogicalError`]s in Vault's categories ([`ErrorKind`]);
//! only the HTTP layer knows status codes.
//!
//! Declare an engine's endpoints with the path framework ([`Endpoint`], [`Endpoints`]): routing,
//! field decoding, the sudo and unauthenticated lists, existence checks, help and the OpenAPI
//! document ([`openapi_document`]) all come from the declarations (see the [`Endpoints`] docs
//! for an example). The hand-written [`Backend::handle`] below is the low-level form.
//!
//! ```
//! use async_trait::async_trait;
//! use strongroom_logical::{Backend, Context, LogicalError, Operation, Request, Response};
//!
//! /// An engine that answers "pong" at `ping`.
//! #[derive(Debug)]
//! struct Ping;
//!
//! #[async_trait]
//! impl Backend for Ping {
//!     async fn handle(&self, _ctx: &Context, req: Request) -> Result<Response, LogicalError> {
//!         match (req.operation, req.path.as_str()) {
//!             (Operation::Read, "ping") => {
//!                 let mut data = serde_json::Map::new();
//!                 data.insert("reply".into(), "pong".into());
//!                 Ok(Response::with_data(data))
//!             }
//!             (_, "ping") => Err(LogicalError::UnsupportedOperation),
//!             _ => Err(LogicalError::UnsupportedPath),
//!         }
//!     }
//! }
//! ```
#![forbid(unsafe_code)]

mod backend;
pub mod cidr;
mod error;
pub mod field;
mod framework;
pub mod json;
mod registry;
mod request;
mod response;
#[cfg(feature = "testing")]
pub mod testing;
pub mod time;
mod view;

pub use backend::{Backend, Context, Lease, fold_segment, path_matches};
pub use error::{ErrorKind, LogicalError, Result};
pub use framework::{
    Endpoint, EndpointInfo, Endpoints, ExistenceCheck, ExistsFuture, Field, FieldSpec, FieldType,
    Fields, FromField, Handler, HandlerFuture, Reply, SecretText, openapi_document,
};
pub use registry::{Factory, Registry};
pub use request::{ClientInfo, Connection, Operation, Request};
pub use response::{AuthDescriptor, RawBody, Response, SecretDescriptor, WrapInfo};
pub use view::StorageView;

/// Shows a JSON object's keys but none of its values, for `Debug` output of requests and
/// responses: their values are often secrets, and `Debug` output ends up in logs.
pub struct Redacted<'a>(pub &'a serde_json::Map<String, serde_json::Value>);

impl std::fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, format_args!("[REDACTED]"))))
            .finish()
    }
}
