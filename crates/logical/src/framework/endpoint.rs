//! Endpoint declarations and the router built from them.

use std::future::Future;
use std::ops::Range;
use std::pin::Pin;

use serde_json::{Map, Value};

use super::fields::{Field, FieldSpec, FieldType, Fields, validation_failed};
use super::pattern::Pattern;
use crate::{Context, LogicalError, Operation, Request, Response, Result};

/// The future an operation handler returns.
pub type HandlerFuture<'a, R = Response, E = LogicalError> =
    Pin<Box<dyn Future<Output = std::result::Result<R, E>> + Send + 'a>>;

/// The future an existence check returns.
pub type ExistsFuture<'a, E = LogicalError> =
    Pin<Box<dyn Future<Output = std::result::Result<bool, E>> + Send + 'a>>;

/// An operation's handler: given the engine, the mount's context and the decoded fields, the
/// answer. Write it as a closure that boxes an async method:
/// `|engine, ctx, fields| Box::pin(engine.read(ctx, fields))`.
///
/// Engines answer a [`Response`] or a [`LogicalError`]; a host with answers of its own (the
/// core's system backend answers with token and lease details no engine gives) names its reply
/// and error types `R` and `E`.
pub type Handler<B, R = Response, E = LogicalError> =
    for<'a> fn(&'a B, &'a Context, Fields<'a>) -> HandlerFuture<'a, R, E>;

/// An existence check: whether the write's target exists (create vs update in policies).
pub type ExistenceCheck<B, E = LogicalError> =
    for<'a> fn(&'a B, &'a Context, Fields<'a>) -> ExistsFuture<'a, E>;

/// What the framework needs of a handler's answer: whether it has a body (Vault adds its
/// warnings about ignored fields only to an answer with one), and where warnings go.
pub trait Reply {
    /// Whether the answer has a body (data, auth or a secret); a 204 has none.
    fn has_body(&self) -> bool;
    /// Adds a warning.
    fn warn(&mut self, warning: String);
}

impl Reply for Response {
    fn has_body(&self) -> bool {
        self.data.is_some() || self.auth.is_some() || self.secret.is_some() || self.raw.is_some()
    }

    fn warn(&mut self, warning: String) {
        self.warnings.push(warning);
    }
}

/// The operations in the order the framework keeps their handlers.
const OPERATIONS: [Operation; 6] = [
    Operation::Read,
    Operation::Create,
    Operation::Update,
    Operation::Patch,
    Operation::Delete,
    Operation::List,
];

fn slot(operation: Operation) -> Option<usize> {
    OPERATIONS.iter().position(|&op| op == operation)
}

/// What an endpoint is, apart from its handlers: pattern, fields, operations, security flags
/// and help. The OpenAPI document is made from these.
#[derive(Clone, Debug)]
pub struct EndpointInfo {
    pub(crate) text: String,
    pub(crate) pattern: Pattern,
    pub(crate) fields: Vec<FieldSpec>,
    pub(crate) operations: Vec<Operation>,
    pub(crate) sudo: bool,
    pub(crate) unauthenticated: bool,
    pub(crate) arbitrary_input: bool,
    pub(crate) exists: bool,
    pub(crate) synopsis: String,
    pub(crate) description: String,
}

impl EndpointInfo {
    /// The pattern as declared (`keys/{name}`).
    pub fn pattern(&self) -> &str {
        &self.text
    }

    /// The declared fields (path captures first, then in declaration order).
    pub fn fields(&self) -> &[FieldSpec] {
        &self.fields
    }

    /// The operations served.
    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// Whether the endpoint needs `sudo` on top of the operation's capability.
    pub fn is_sudo(&self) -> bool {
        self.sudo
    }

    /// Whether the endpoint needs no token (a login).
    pub fn is_unauthenticated(&self) -> bool {
        self.unauthenticated
    }

    /// Whether the endpoint takes fields it does not declare (and so warns about none).
    pub fn takes_arbitrary_input(&self) -> bool {
        self.arbitrary_input
    }

    /// Whether the endpoint declares an existence check.
    pub fn has_existence_check(&self) -> bool {
        self.exists
    }

    /// One line of help.
    pub fn synopsis(&self) -> &str {
        &self.synopsis
    }

    /// The longer help.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Whether `path` (below the mount) matches this endpoint's pattern, on its own: the router
    /// ([`Endpoints::endpoint`]) hands a path to the *first* endpoint that matches, which may
    /// be an earlier one.
    pub fn matches(&self, path: &str) -> bool {
        self.pattern.matches(path, &mut Vec::new())
    }

    /// Concrete paths (below the mount) that this endpoint's pattern matches, for tests and
    /// examples: each capture replaced by `value(name)` (a `{path*}` or `{path+}` capture takes
    /// the value as it is, so it may hold `/`). A pattern with optional captures
    /// (`random/{source?}/{bytes?}`) gives one path per number of them present, none first;
    /// a trailing `/?` gives each path with and without the `/`.
    ///
    /// ```
    /// use strongroom_logical::{Endpoint, Endpoints, Response};
    ///
    /// struct Engine;
    /// let endpoints = Endpoints::<Engine>::new("", vec![
    ///     Endpoint::new("export/{type}/{name}/{version?}")
    ///         .read(|_, _, _| Box::pin(async { Ok(Response::empty()) })),
    /// ]);
    /// let info = &endpoints.infos()[0];
    /// let paths = info.example_paths(|name| format!("my-{name}"));
    /// assert_eq!(paths, ["export/my-type/my-name", "export/my-type/my-name/my-version"]);
    /// assert!(paths.iter().all(|path| info.matches(path)));
    /// ```
    pub fn example_paths(&self, mut value: impl FnMut(&str) -> String) -> Vec<String> {
        self.pattern.example_paths(&mut value)
    }
}

/// One endpoint, declared: build it with [`Endpoint::new`] and the builder methods, then hand a
/// list of them to [`Endpoints::new`].
pub struct Endpoint<B, R = Response, E = LogicalError> {
    info: EndpointInfo,
    declared: Vec<(String, Field)>,
    handlers: [Option<Handler<B, R, E>>; 6],
    exists: Option<ExistenceCheck<B, E>>,
}

impl<B, R, E> std::fmt::Debug for Endpoint<B, R, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("pattern", &self.info.text)
            .finish_non_exhaustive()
    }
}

impl<B, R, E> Endpoint<B, R, E> {
    /// An endpoint at `pattern`, relative to the mount. A pattern is `/`-separated segments:
    ///
    /// * `keys` — that segment exactly;
    /// * `{name}` — one non-empty segment, captured as the string field `name`;
    /// * `{name?}` — an optional last segment (Vault's `OptionalParamRegex`);
    /// * `{path*}` — the rest of the path, possibly empty (Vault's `MatchAllRegex`);
    /// * `{path+}` — the rest of the path, not empty and not ending in `/` (a secret's path);
    /// * a trailing `/?` — the path may end in `/` (list endpoints: `keys/?`).
    ///
    /// Captures are string fields; declare them with [`field`](Self::field) to describe them
    /// (undeclared ones are declared as plain strings).
    pub fn new(pattern: &str) -> Self {
        Self {
            info: EndpointInfo {
                text: pattern.to_owned(),
                pattern: Pattern::compile(pattern),
                fields: Vec::new(),
                operations: Vec::new(),
                sudo: false,
                unauthenticated: false,
                arbitrary_input: false,
                exists: false,
                synopsis: String::new(),
                description: String::new(),
            },
            declared: Vec::new(),
            handlers: [None; 6],
            exists: None,
        }
    }

    /// Declares a field.
    #[must_use]
    pub fn field(mut self, name: &str, field: Field) -> Self {
        self.declared.push((name.to_owned(), field));
        self
    }

    /// Serves `operation` with `handler`.
    #[must_use]
    pub fn operation(mut self, operation: Operation, handler: Handler<B, R, E>) -> Self {
        if let Some(slot) = slot(operation).and_then(|i| self.handlers.get_mut(i)) {
            *slot = Some(handler);
        }
        self
    }

    /// Serves reads.
    #[must_use]
    pub fn read(self, handler: Handler<B, R, E>) -> Self {
        self.operation(Operation::Read, handler)
    }

    /// Serves creates and updates with one handler (a write, whichever the existence check made
    /// it).
    #[must_use]
    pub fn write(self, handler: Handler<B, R, E>) -> Self {
        self.operation(Operation::Create, handler)
            .operation(Operation::Update, handler)
    }

    /// Serves patches.
    #[must_use]
    pub fn patch(self, handler: Handler<B, R, E>) -> Self {
        self.operation(Operation::Patch, handler)
    }

    /// Serves deletes.
    #[must_use]
    pub fn delete(self, handler: Handler<B, R, E>) -> Self {
        self.operation(Operation::Delete, handler)
    }

    /// Serves lists.
    #[must_use]
    pub fn list(self, handler: Handler<B, R, E>) -> Self {
        self.operation(Operation::List, handler)
    }

    /// The existence check for writes (Vault's `ExistenceCheck`). Without one, the core counts
    /// every write as an update.
    #[must_use]
    pub fn exists(mut self, check: ExistenceCheck<B, E>) -> Self {
        self.exists = Some(check);
        self
    }

    /// Requires `sudo` on top of the operation's capability (Vault's `PathsSpecial.Root`).
    #[must_use]
    pub fn sudo(mut self) -> Self {
        self.info.sudo = true;
        self
    }

    /// Needs no token (Vault's `PathsSpecial.Unauthenticated`: logins).
    #[must_use]
    pub fn unauthenticated(mut self) -> Self {
        self.info.unauthenticated = true;
        self
    }

    /// Takes fields it does not declare (Vault's `TakesArbitraryInput`): no "ignored these
    /// unrecognized parameters" warning, and the undeclared fields reach the handler through
    /// [`Fields::unrecognized`].
    #[must_use]
    pub fn arbitrary_input(mut self) -> Self {
        self.info.arbitrary_input = true;
        self
    }

    /// One line of help (Vault's `HelpSynopsis`; the OpenAPI summary).
    #[must_use]
    pub fn synopsis(mut self, text: &str) -> Self {
        text.trim().clone_into(&mut self.info.synopsis);
        self
    }

    /// The longer help (Vault's `HelpDescription`; the OpenAPI description).
    #[must_use]
    pub fn description(mut self, text: &str) -> Self {
        text.trim().clone_into(&mut self.info.description);
        self
    }
}

/// A request decoded for its endpoint: the handler, the fields, and the names Vault warns about.
struct Decoded<'a, B, R, E> {
    handler: Handler<B, R, E>,
    fields: Fields<'a>,
    ignored: Vec<String>,
    replaced: Vec<String>,
}

/// A request matched to an endpoint: which one, and the byte ranges of its captures.
struct Matched {
    index: usize,
    spans: Vec<Option<Range<usize>>>,
}

/// The engine's endpoints, compiled: the router, the security lists, the existence checks and
/// the help all come from here.
///
/// Routing is Vault's: endpoints are tried in the order declared and **the first whose pattern
/// matches wins** (even when it does not serve the operation: that is `unsupported operation`,
/// never a fall-through to a later endpoint). No match is `unsupported path`.
pub struct Endpoints<B, R = Response, E = LogicalError> {
    infos: Vec<EndpointInfo>,
    handlers: Vec<[Option<Handler<B, R, E>>; 6]>,
    checks: Vec<Option<ExistenceCheck<B, E>>>,
    help: String,
    problems: Vec<String>,
}

impl<B, R, E> std::fmt::Debug for Endpoints<B, R, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.infos.iter().map(EndpointInfo::pattern))
            .finish()
    }
}

impl<B, R: Reply, E: From<LogicalError>> Endpoints<B, R, E> {
    /// Compiles the declarations (patterns, field defaults). Never fails: what is wrong with a
    /// declaration is listed by [`problems`](Self::problems), which every engine's tests check
    /// is empty.
    pub fn new(help: &str, endpoints: Vec<Endpoint<B, R, E>>) -> Self {
        let mut problems = Vec::new();
        let mut infos = Vec::with_capacity(endpoints.len());
        let mut handlers = Vec::with_capacity(endpoints.len());
        let mut checks = Vec::with_capacity(endpoints.len());
        for endpoint in endpoints {
            let Endpoint {
                mut info,
                mut declared,
                handlers: ops,
                exists,
            } = endpoint;
            problems.extend(info.pattern.problems().iter().cloned());
            let mut fields = Vec::new();
            for capture in info.pattern.captures() {
                let field = match declared.iter().position(|(n, _)| n == capture) {
                    Some(at) => declared.remove(at).1,
                    None => Field::new(FieldType::String, ""),
                };
                if !matches!(field.ty, FieldType::String | FieldType::LowerCaseString) {
                    problems.push(format!(
                        "{}: the captured field {capture:?} must be a string",
                        info.text
                    ));
                }
                fields.push(FieldSpec::new(capture.clone(), field, true, &mut problems));
            }
            for (name, field) in declared {
                if fields.iter().any(|f| f.name == name) {
                    problems.push(format!("{}: field {name:?} declared twice", info.text));
                    continue;
                }
                fields.push(FieldSpec::new(name, field, false, &mut problems));
            }
            info.fields = fields;
            info.operations = OPERATIONS
                .iter()
                .zip(&ops)
                .filter(|(_, h)| h.is_some())
                .map(|(op, _)| *op)
                .collect();
            if info.operations.is_empty() {
                problems.push(format!("{}: serves no operation", info.text));
            }
            if infos.iter().any(|i: &EndpointInfo| i.text == info.text) {
                problems.push(format!(
                    "{}: declared twice (the second is never reached)",
                    info.text
                ));
            }
            info.exists = exists.is_some();
            infos.push(info);
            handlers.push(ops);
            checks.push(exists);
        }
        Self {
            infos,
            handlers,
            checks,
            help: help.trim().to_owned(),
            problems,
        }
    }

    /// What is wrong with the declarations: malformed patterns, captures that are not strings,
    /// defaults that do not decode, fields or patterns declared twice, endpoints without
    /// operations. Empty when all is well.
    pub fn problems(&self) -> &[String] {
        &self.problems
    }

    /// The declarations, in routing order (for help and the OpenAPI document).
    pub fn infos(&self) -> &[EndpointInfo] {
        &self.infos
    }

    /// The engine's help text.
    pub fn help(&self) -> &str {
        &self.help
    }

    fn route(&self, path: &str) -> Option<Matched> {
        let mut spans = Vec::new();
        self.infos
            .iter()
            .position(|info| info.pattern.matches(path, &mut spans))
            .map(|index| Matched { index, spans })
    }

    /// The endpoint that serves `path` (first match), if any.
    pub fn endpoint(&self, path: &str) -> Option<&EndpointInfo> {
        self.route(path).and_then(|m| self.infos.get(m.index))
    }

    /// `path` with the captures its endpoint declares as [`FieldType::LowerCaseString`]
    /// lower-cased, as the handler will read them (`policy/Admin` -> `policy/admin`), for a host
    /// to decide access on the path acted on. `None` when nothing changes or nothing matches.
    pub fn canonical_path(&self, path: &str) -> Option<String> {
        let matched = self.route(path)?;
        let info = self.infos.get(matched.index)?;
        let mut out = String::new();
        let mut copied = 0;
        let captures = info.fields.iter().filter(|spec| spec.capture);
        for (spec, span) in captures.zip(&matched.spans) {
            let Some(span) = span.clone() else {
                continue;
            };
            let text = path.get(span.clone())?;
            if spec.field.ty != FieldType::LowerCaseString {
                continue;
            }
            // The handler's own folding decides, so the two can never differ.
            let folded = text.to_lowercase();
            if folded == text {
                continue;
            }
            out.push_str(path.get(copied..span.start)?);
            out.push_str(&folded);
            copied = span.end;
        }
        if copied == 0 {
            return None;
        }
        out.push_str(path.get(copied..)?);
        Some(out)
    }

    /// Whether `path` needs `sudo`: its endpoint is declared [`Endpoint::sudo`].
    pub fn needs_sudo(&self, path: &str) -> bool {
        self.endpoint(path).is_some_and(|info| info.sudo)
    }

    /// Whether `path` needs no token: its endpoint is declared [`Endpoint::unauthenticated`].
    pub fn is_unauthenticated(&self, path: &str) -> bool {
        self.endpoint(path).is_some_and(|info| info.unauthenticated)
    }

    /// Routes and handles a request: matches the path, finds the operation's handler, decodes
    /// and validates every declared field, calls the handler, and adds Vault's warnings about
    /// ignored fields to a non-empty answer. The body is moved into the fields, never copied.
    ///
    /// # Errors
    ///
    /// [`LogicalError::UnsupportedPath`] when no endpoint matches;
    /// [`LogicalError::UnsupportedOperation`] when the matching endpoint does not serve the
    /// operation; [`LogicalError::InvalidRequest`] (`Field validation failed: ...`) for a field
    /// that does not convert; else the handler's error.
    pub async fn handle(
        &self,
        backend: &B,
        ctx: &Context,
        mut request: Request,
    ) -> std::result::Result<R, E> {
        let body = std::mem::take(&mut request.data);
        let decoded = self.decode_body(&request, body)?;
        let mut response = (decoded.handler)(backend, ctx, decoded.fields).await?;
        // Vault adds these to a response, never to an empty answer (a 204 has no body).
        if response.has_body() {
            if !decoded.ignored.is_empty() {
                response.warn(format!(
                    "Endpoint ignored these unrecognized parameters: [{}]",
                    sorted(decoded.ignored)
                ));
            }
            if !decoded.replaced.is_empty() {
                response.warn(format!(
                    "Endpoint replaced the value of these parameters with the values captured \
                     from the endpoint's path: [{}]",
                    sorted(decoded.replaced)
                ));
            }
        }
        Ok(response)
    }

    /// The fields the request's handler would get, decoded exactly as
    /// [`handle`](Self::handle) decodes them (same routing, same refusals, same wording), without
    /// calling the handler. For answers that must not differ from the handler's on the same
    /// input, such as a locked-out login ([`Backend::locked_login`](crate::Backend::locked_login)),
    /// which must fail as a wrong credential does. The body is copied (the request is borrowed).
    ///
    /// # Errors
    ///
    /// As [`handle`](Self::handle) before its handler runs.
    pub fn decode<'a>(&'a self, request: &'a Request) -> Result<Fields<'a>> {
        self.decode_body(request, request.data.clone())
            .map(|decoded| decoded.fields)
    }

    /// Matches `request` and decodes `body` (its data, taken out) into the endpoint's fields.
    fn decode_body<'a>(
        &'a self,
        request: &'a Request,
        mut body: Map<String, Value>,
    ) -> Result<Decoded<'a, B, R, E>> {
        let matched = self
            .route(&request.path)
            .ok_or(LogicalError::UnsupportedPath)?;
        let (Some(info), Some(ops)) = (
            self.infos.get(matched.index),
            self.handlers.get(matched.index),
        ) else {
            return Err(LogicalError::UnsupportedPath);
        };
        let handler = slot(request.operation)
            .and_then(|i| ops.get(i).copied().flatten())
            .ok_or(LogicalError::UnsupportedOperation)?;
        let mut values = Vec::with_capacity(info.fields.len());
        let mut replaced = Vec::new();
        let mut captures = matched.spans.iter();
        for spec in &info.fields {
            if spec.capture {
                let value = captures
                    .next()
                    .cloned()
                    .flatten()
                    .and_then(|span| request.path.get(span))
                    .map(|text| capture_value(spec, text));
                let sent = if info.arbitrary_input {
                    body.get(&spec.name).is_some_and(|v| !v.is_null())
                } else {
                    body.remove(&spec.name).is_some_and(|v| !v.is_null())
                };
                if sent {
                    replaced.push(spec.name.clone());
                }
                values.push(value);
                continue;
            }
            let value = match body.remove(&spec.name) {
                None | Some(Value::Null) => None,
                Some(raw) => Some(
                    spec.field
                        .ty
                        .decode(raw)
                        .map_err(|detail| validation_failed(&spec.name, &detail))?,
                ),
            };
            values.push(value);
        }
        let ignored: Vec<String> = if info.arbitrary_input {
            Vec::new()
        } else {
            body.keys().cloned().collect()
        };
        Ok(Decoded {
            handler,
            fields: Fields::new(request, &info.fields, values, body),
            ignored,
            replaced,
        })
    }

    /// The existence check for a write (Vault's `HandleExistenceCheck`): `None` when the
    /// operation is not a create or update, no endpoint matches, or the endpoint declares no
    /// check. The declared body fields are validated first (without copying them), so a write
    /// with a field that does not convert is refused here, before the policy check, with the
    /// message Vault gives at this stage (`error converting input for field ...`, without the
    /// request handler's `Field validation failed:`). The check sees the path's captures only.
    ///
    /// # Errors
    ///
    /// [`LogicalError::InvalidRequest`] for a field that does not convert; the check's error.
    pub async fn exists(
        &self,
        backend: &B,
        ctx: &Context,
        request: &Request,
    ) -> std::result::Result<Option<bool>, E> {
        if !matches!(request.operation, Operation::Create | Operation::Update) {
            return Ok(None);
        }
        let Some(matched) = self.route(&request.path) else {
            return Ok(None);
        };
        let (Some(info), Some(Some(check))) = (
            self.infos.get(matched.index),
            self.checks.get(matched.index),
        ) else {
            return Ok(None);
        };
        let mut values = Vec::with_capacity(info.fields.len());
        let mut captures = matched.spans.iter();
        for spec in &info.fields {
            if spec.capture {
                values.push(
                    captures
                        .next()
                        .cloned()
                        .flatten()
                        .and_then(|span| request.path.get(span))
                        .map(|text| capture_value(spec, text)),
                );
                continue;
            }
            if let Some(raw) = request.data.get(&spec.name).filter(|v| !v.is_null()) {
                spec.field.ty.check(raw).map_err(|detail| {
                    LogicalError::invalid(format!(
                        "error converting input for field {:?}: {detail}",
                        spec.name
                    ))
                })?;
            }
            values.push(None);
        }
        let fields = Fields::new(request, &info.fields, values, Map::new());
        check(backend, ctx, fields).await.map(Some)
    }
}

/// Names sorted and joined as Go's `%v` prints a `[]string` (inside the brackets).
fn sorted(mut names: Vec<String>) -> String {
    names.sort();
    names.join(" ")
}

/// A path capture as its field's type reads it: a `LowerCaseString` capture is lower-cased, as
/// Vault's `FieldData` does (the core folds names before the policy check too, but an engine
/// driven directly must not see `role/Admin` and `role/admin` as two roles).
fn capture_value(spec: &crate::framework::FieldSpec, text: &str) -> Value {
    match spec.field.ty {
        crate::framework::FieldType::LowerCaseString => Value::String(text.to_lowercase()),
        _ => Value::String(text.to_owned()),
    }
}
