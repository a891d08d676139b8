//! The backend conformance suite ([`Conformance`]): what an engine declares is what it serves.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};
use strongroom_storage::Storage;

use super::request;
use crate::{
    Backend, Context, EndpointInfo, FieldSpec, FieldType, LogicalError, Operation, Request,
    Response, StorageView,
};

/// Every operation, in the framework's order.
const OPERATIONS: [Operation; 6] = [
    Operation::Read,
    Operation::Create,
    Operation::Update,
    Operation::Patch,
    Operation::Delete,
    Operation::List,
];

/// The value a capture gets when no [`Conformance::sample`] names it.
const SAMPLE: &str = "sample";

/// What a conformance run checked, for a test to assert it did real work (e.g. that an engine
/// with typed fields had some of them refused).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Report {
    /// Endpoints checked.
    pub endpoints: usize,
    /// Example paths routed to their own endpoint.
    pub paths: usize,
    /// Declared operations served, over all paths.
    pub served: usize,
    /// Undeclared operations answered `unsupported operation`, over all paths.
    pub refused_operations: usize,
    /// Existence-check answers checked against the declarations.
    pub existence_checks: usize,
    /// Wrongly typed field values refused with Vault's 400, leaving storage unchanged.
    pub bad_fields: usize,
    /// Unknown paths answered `unsupported path` for every operation.
    pub unknown_paths: usize,
}

/// The conformance suite for one backend: build it with [`new`](Self::new), give captures that
/// need them other samples, then [`run`](Self::run). [`assert_conformance`] runs it with the
/// defaults.
///
/// The suite drives a [`Backend`] from its declarations alone
/// ([`Backend::endpoints`]) and checks, for every declared endpoint:
///
/// * **routing**: each of its example paths ([`EndpointInfo::example_paths`], the captures
///   filled with sample values) is matched by it and by no earlier endpoint (the router hands a
///   path to the first match); an endpoint an earlier one shadows must be named with
///   [`Conformance::shadowed`], and is still reached by at least one of its paths;
/// * **security flags**: [`Backend::needs_sudo`] and [`Backend::is_unauthenticated`] answer
///   the endpoint's declaration for each of its paths;
/// * **operations**: every declared operation is served (the answer may be an engine error,
///   such as "not found" or an invalid request, but never `unsupported path` or
///   `unsupported operation`), and every operation not declared is `unsupported operation`;
/// * **existence checks**: [`Backend::exists`] answers `Some` for a write exactly when the
///   endpoint declares a check;
/// * **field types**: for every body field (not captured by the path) and every operation, each
///   value of the wrong JSON type that the field's decoder refuses (an object for an `Int`, a
///   non-numeric string for an `Int`, a list for a `String`, ...; see the
///   [`field`](crate::field) rules) is a 400 `InvalidRequest` worded exactly as Vault words it
///   (`Field validation failed: error converting input for field "ttl": ...`), storage is left
///   exactly as it was (every key and value compared), and the existence check, where there is
///   one, refuses it too (`error converting input for field "ttl": ...`);
///
/// and for the mount as a whole that **unknown paths** — `no-such-path-xyz`, the example paths
/// with junk appended, their parents, `<path>/../x` — are `unsupported path` for every
/// operation, whenever no declared pattern matches them (an engine with a catch-all pattern, such
/// as KV version 1's `{path*}`, has none), and change nothing.
///
/// Requests carry an empty body unless a check says otherwise, no client and no connection.
/// Handlers do run (a write to `keys/sample` may create a key), so give the suite a fresh
/// [`Context`] ([`context`](crate::testing::context)).
///
/// ```
/// # async fn doc(backend: &dyn strongroom_logical::Backend) {
/// use strongroom_logical::testing::{Conformance, context};
///
/// let ctx = context("transit/");
/// let report = Conformance::new(backend, &ctx)
///     .sample("plaintext", "wrapped")
///     .run()
///     .await;
/// assert!(report.bad_fields > 0);
/// # }
/// ```
#[derive(Debug)]
pub struct Conformance<'a> {
    backend: &'a dyn Backend,
    ctx: &'a Context,
    samples: BTreeMap<String, String>,
    shadowed: BTreeMap<String, String>,
}

impl<'a> Conformance<'a> {
    /// The suite for `backend`, mounted with `ctx` (give it fresh storage: handlers run). Every
    /// capture is filled with `sample` unless [`sample`](Self::sample) says otherwise.
    pub fn new(backend: &'a dyn Backend, ctx: &'a Context) -> Self {
        Self {
            backend,
            ctx,
            samples: BTreeMap::new(),
            shadowed: BTreeMap::new(),
        }
    }

    /// Fills the capture `name` with `value` in every example path (for an engine whose
    /// declared order makes the default sample reach an earlier endpoint).
    #[must_use]
    pub fn sample(mut self, name: &str, value: &str) -> Self {
        self.samples.insert(name.to_owned(), value.to_owned());
        self
    }

    /// Declares that an earlier endpoint takes some of `pattern`'s example paths, on purpose
    /// (`reason` says why; it is shown when the exception turns out to be unneeded). Those
    /// paths are skipped; the endpoint must still be reached by one of its others, and the
    /// suite fails when nothing shadows it after all.
    #[must_use]
    pub fn shadowed(mut self, pattern: &str, reason: &str) -> Self {
        self.shadowed.insert(pattern.to_owned(), reason.to_owned());
        self
    }

    /// Runs every check (listed in the [`Conformance`] docs).
    ///
    /// # Panics
    ///
    /// At the first check that fails, saying which path, operation and field.
    pub async fn run(self) -> Report {
        let infos = self.backend.endpoints();
        assert!(
            !infos.is_empty(),
            "the backend declares no endpoints (Backend::endpoints)"
        );
        for pattern in self.shadowed.keys() {
            assert!(
                infos.iter().any(|info| info.pattern() == pattern),
                "{pattern}: named shadowed, but no such endpoint is declared"
            );
        }
        let mut report = Report::default();
        let mut reached = Vec::new();
        for (index, info) in infos.iter().enumerate() {
            let own = self.routed_paths(infos, index, info);
            report.endpoints += 1;
            report.paths += own.len();
            for path in &own {
                self.check_flags(info, path);
                self.check_operations(info, path, &mut report).await;
                self.check_existence(info, path, &mut report).await;
            }
            // Body fields do not depend on which of the endpoint's paths carries them.
            if let Some(path) = own.last() {
                self.check_fields(info, path, &mut report).await;
            }
            reached.extend(own);
        }
        self.check_unknown_paths(infos, &reached, &mut report).await;
        report
    }

    /// The endpoint's example paths that the router gives to it, after checking that the others
    /// are excused by [`shadowed`](Self::shadowed).
    fn routed_paths(
        &self,
        infos: &[EndpointInfo],
        index: usize,
        info: &EndpointInfo,
    ) -> Vec<String> {
        let pattern = info.pattern();
        assert!(
            info.pattern.problems().is_empty(),
            "{pattern}: malformed pattern: {:?}",
            info.pattern.problems()
        );
        let paths = info.example_paths(|name| {
            self.samples
                .get(name)
                .cloned()
                .unwrap_or_else(|| SAMPLE.to_owned())
        });
        let mut own = Vec::new();
        let mut taken = Vec::new();
        for path in paths {
            assert!(
                info.matches(&path),
                "{pattern}: its example path {path:?} does not match it (please file a bug)"
            );
            match infos.iter().position(|other| other.matches(&path)) {
                Some(first) if first == index => own.push(path),
                first => {
                    let by = first
                        .and_then(|i| infos.get(i))
                        .map_or("nothing", EndpointInfo::pattern);
                    taken.push(format!("{path:?} goes to {by}"));
                }
            }
        }
        match self.shadowed.get(pattern) {
            None => assert!(
                taken.is_empty(),
                "{pattern}: an earlier endpoint takes its paths ({}); reorder the declarations, \
                 give the captures other samples (Conformance::sample), or name the exception \
                 (Conformance::shadowed)",
                taken.join(", ")
            ),
            Some(reason) => assert!(
                !taken.is_empty(),
                "{pattern}: named shadowed ({reason}), but no earlier endpoint takes its paths"
            ),
        }
        assert!(
            !own.is_empty(),
            "{pattern}: none of its example paths reaches it ({}); give the captures other \
             samples (Conformance::sample)",
            taken.join(", ")
        );
        own
    }

    /// `sudo` and unauthenticated are what the endpoint declares.
    fn check_flags(&self, info: &EndpointInfo, path: &str) {
        assert_eq!(
            self.backend.needs_sudo(path),
            info.is_sudo(),
            "{path}: Backend::needs_sudo disagrees with the declaration of {}",
            info.pattern()
        );
        assert_eq!(
            self.backend.is_unauthenticated(path),
            info.is_unauthenticated(),
            "{path}: Backend::is_unauthenticated disagrees with the declaration of {}",
            info.pattern()
        );
    }

    /// Declared operations are served, the others are `unsupported operation`.
    async fn check_operations(&self, info: &EndpointInfo, path: &str, report: &mut Report) {
        for op in OPERATIONS {
            let answer = self.send(op, path, Map::new()).await;
            if info.operations().contains(&op) {
                if let Err(
                    err @ (LogicalError::UnsupportedPath | LogicalError::UnsupportedOperation),
                ) = &answer
                {
                    panic!(
                        "{path}: {op} is declared by {}, but the backend answers {err:?}",
                        info.pattern()
                    );
                }
                report.served += 1;
            } else {
                assert!(
                    matches!(answer, Err(LogicalError::UnsupportedOperation)),
                    "{path}: {op} is not declared by {}, so it must be `unsupported operation`; \
                     the backend answers {}",
                    info.pattern(),
                    describe(&answer)
                );
                report.refused_operations += 1;
            }
        }
    }

    /// The existence check answers for a write exactly when one is declared.
    async fn check_existence(&self, info: &EndpointInfo, path: &str, report: &mut Report) {
        for op in [Operation::Create, Operation::Update] {
            if !info.operations().contains(&op) {
                continue;
            }
            let answer = self.backend.exists(self.ctx, &Request::new(op, path)).await;
            if info.has_existence_check() {
                assert!(
                    matches!(answer, Ok(Some(_))),
                    "{path}: {} declares an existence check, but Backend::exists answers {answer:?} \
                     for a {op}",
                    info.pattern()
                );
            } else {
                assert!(
                    matches!(answer, Ok(None)),
                    "{path}: {} declares no existence check, but Backend::exists answers \
                     {answer:?} for a {op}",
                    info.pattern()
                );
            }
            report.existence_checks += 1;
        }
    }

    /// Every wrongly typed value of every body field is refused in Vault's words, by every
    /// operation, and changes nothing.
    async fn check_fields(&self, info: &EndpointInfo, path: &str, report: &mut Report) {
        for spec in info.fields().iter().filter(|spec| !spec.is_captured()) {
            for value in refused_values(spec.field().ty()) {
                let detail = refusal(spec, &value);
                for &op in info.operations() {
                    let mut body = Map::new();
                    body.insert(spec.name().to_owned(), value.clone());
                    let before = snapshot(&self.ctx.storage).await;
                    let answer = self.send(op, path, body.clone()).await;
                    let after = snapshot(&self.ctx.storage).await;
                    let expected = format!(
                        "Field validation failed: error converting input for field {:?}: {detail}",
                        spec.name()
                    );
                    assert!(
                        matches!(&answer, Err(LogicalError::InvalidRequest(m)) if *m == expected),
                        "{path}: a {op} with {} = {value} must be refused with {expected:?}; the \
                         backend answers {}",
                        spec.name(),
                        describe(&answer)
                    );
                    assert!(
                        before == after,
                        "{path}: a refused {op} with {} = {value} changed storage: {}",
                        spec.name(),
                        difference(&before, &after)
                    );
                    if info.has_existence_check()
                        && matches!(op, Operation::Create | Operation::Update)
                    {
                        let request = Request::new(op, path).with_data(body);
                        let answer = self.backend.exists(self.ctx, &request).await;
                        let expected = format!(
                            "error converting input for field {:?}: {detail}",
                            spec.name()
                        );
                        assert!(
                            matches!(&answer, Err(LogicalError::InvalidRequest(m)) if *m == expected),
                            "{path}: the existence check of a {op} with {} = {value} must refuse \
                             it with {expected:?}; it answers {answer:?}",
                            spec.name()
                        );
                    }
                    report.bad_fields += 1;
                }
            }
        }
    }

    /// Paths no declared pattern matches are `unsupported path` for every operation.
    async fn check_unknown_paths(
        &self,
        infos: &[EndpointInfo],
        reached: &[String],
        report: &mut Report,
    ) {
        let mut junk: BTreeSet<String> = ["", "/", "//", "no-such-path-xyz", "no-such-path-xyz/x"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        for path in reached {
            junk.insert(format!("{path}/no-such-segment-xyz"));
            junk.insert(format!("{path}-no-such-suffix"));
            junk.insert(format!("{path}/../no-such-path-xyz"));
            let trimmed = path.trim_end_matches('/');
            if let Some((parent, _)) = trimmed.rsplit_once('/') {
                junk.insert(parent.to_owned());
                junk.insert(format!("{parent}/"));
            }
            if let Some(first) = trimmed.split('/').next() {
                junk.insert(format!("{first}-no-such-suffix"));
                junk.insert(format!("{first}/../no-such-path-xyz"));
            }
        }
        let before = snapshot(&self.ctx.storage).await;
        for path in junk {
            if infos.iter().any(|info| info.matches(&path)) {
                continue;
            }
            for op in OPERATIONS {
                let answer = self.send(op, &path, Map::new()).await;
                assert!(
                    matches!(answer, Err(LogicalError::UnsupportedPath)),
                    "{path:?}: no endpoint declares it, so a {op} must be `unsupported path`; the \
                     backend answers {}",
                    describe(&answer)
                );
            }
            report.unknown_paths += 1;
        }
        let after = snapshot(&self.ctx.storage).await;
        assert!(
            before == after,
            "requests to unknown paths changed storage: {}",
            difference(&before, &after)
        );
    }

    async fn send(
        &self,
        op: Operation,
        path: &str,
        body: Map<String, Value>,
    ) -> crate::Result<Response> {
        self.backend
            .handle(self.ctx, request(op, path, Value::Object(body)))
            .await
    }
}

/// Runs the whole [`Conformance`] suite on `backend` with the default samples and no
/// exceptions, and returns what it checked.
///
/// # Panics
///
/// At the first check that fails.
pub async fn assert_conformance(backend: &dyn Backend, ctx: &Context) -> Report {
    Conformance::new(backend, ctx).run().await
}

/// Values of the wrong JSON type for a field of type `ty`, each refused by its decoder (the
/// rules of [`field`](crate::field)); none for [`FieldType::Slice`], which takes any value.
pub fn refused_values(ty: FieldType) -> Vec<Value> {
    let object = json!({"not": "a scalar"});
    match ty {
        FieldType::String | FieldType::LowerCaseString | FieldType::SecretString => {
            vec![object, json!(["a", "list"])]
        }
        FieldType::Int => vec![object, json!("not-a-number"), json!(1.5)],
        FieldType::Bool => vec![object, json!("maybe")],
        FieldType::DurationSecond => vec![object, json!("soon"), json!(true), json!(-5)],
        FieldType::SignedDurationSecond => vec![object, json!("soon")],
        FieldType::StringSlice | FieldType::CommaStringSlice => {
            vec![object, json!([{"nested": "object"}])]
        }
        FieldType::CommaIntSlice => vec![object, json!("1,two")],
        FieldType::Map => vec![json!(["a", "list"]), json!("not a map")],
        FieldType::KvPairs => vec![json!(5), json!(["no-equals-sign"])],
        FieldType::Slice => Vec::new(),
    }
}

/// The decoder's detail for a value [`refused_values`] gives (it must refuse it).
fn refusal(spec: &FieldSpec, value: &Value) -> String {
    match spec.field().ty().decode(value.clone()) {
        Err(detail) => detail,
        Ok(decoded) => panic!(
            "{}: the decoder accepts {value} as {decoded}: refused_values is wrong (please file a bug)",
            spec.name()
        ),
    }
}

/// An answer, for a failure message.
fn describe(answer: &crate::Result<Response>) -> String {
    match answer {
        Ok(response) => format!("a response ({response:?})"),
        Err(err) => format!("{err:?}"),
    }
}

/// Every key below the view and its value.
async fn snapshot(storage: &StorageView) -> BTreeMap<String, Vec<u8>> {
    let mut entries = BTreeMap::new();
    let mut folders = vec![String::new()];
    while let Some(folder) = folders.pop() {
        for child in storage.list(&folder).await.expect("storage lists") {
            let key = format!("{folder}{child}");
            if child.ends_with('/') {
                folders.push(key);
            } else if let Some(value) = storage.get(&key).await.expect("storage reads") {
                entries.insert(key, value);
            }
        }
    }
    entries
}

/// The keys added, removed and changed between two snapshots.
fn difference(before: &BTreeMap<String, Vec<u8>>, after: &BTreeMap<String, Vec<u8>>) -> String {
    let added: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    let removed: Vec<&String> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    let changed: Vec<&String> = before
        .iter()
        .filter(|(k, v)| after.get(*k).is_some_and(|w| w != *v))
        .map(|(k, _)| k)
        .collect();
    format!("added {added:?}, removed {removed:?}, changed {changed:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value the suite sends as "wrongly typed" is one the decoder really refuses, and
    /// every type but `Slice` (which takes anything) has some.
    #[test]
    fn refused_values_are_refused() {
        let all = [
            FieldType::String,
            FieldType::LowerCaseString,
            FieldType::SecretString,
            FieldType::Int,
            FieldType::Bool,
            FieldType::DurationSecond,
            FieldType::SignedDurationSecond,
            FieldType::StringSlice,
            FieldType::CommaStringSlice,
            FieldType::CommaIntSlice,
            FieldType::Map,
            FieldType::KvPairs,
            FieldType::Slice,
        ];
        for ty in all {
            let values = refused_values(ty);
            assert_eq!(values.is_empty(), ty == FieldType::Slice, "{ty:?}");
            for value in values {
                assert!(ty.decode(value.clone()).is_err(), "{ty:?} accepts {value}");
                assert!(ty.check(&value).is_err(), "{ty:?} checks {value}");
            }
        }
    }
}
