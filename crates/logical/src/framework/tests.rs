#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use serde_json::{Value, json};

use super::*;
use crate::{Context, LogicalError, Operation, Request, Response, Result, StorageView};

/// Every conversion rule in one table: the field type, what a client sent, and what Vault
/// (OpenBao 2.7) makes of it — the canonical value, or `Err` with (part of) the 400's detail.
#[test]
fn conversion_rules() {
    use FieldType as T;
    let negative = "cannot provide negative value";
    let bad_int = "'' cannot parse value as 'int': strconv.ParseInt: invalid syntax";
    let bad_bool = "'' cannot parse value as 'bool': strconv.ParseBool: invalid syntax";
    let rows: &[(FieldType, Value, std::result::Result<Value, &str>)] = &[
        // TypeInt: weak decoding of integers, integer text, booleans, "" (zero).
        (T::Int, json!(3), Ok(json!(3))),
        (T::Int, json!("3"), Ok(json!(3))),
        (T::Int, json!("-1"), Ok(json!(-1))),
        (T::Int, json!(-1), Ok(json!(-1))),
        (T::Int, json!(""), Ok(json!(0))),
        (T::Int, json!(true), Ok(json!(1))),
        (T::Int, json!(false), Ok(json!(0))),
        (T::Int, json!("0x10"), Ok(json!(16))),
        (T::Int, json!("010"), Ok(json!(8))),
        (T::Int, json!("0b11"), Ok(json!(3))),
        (T::Int, json!("1_000"), Ok(json!(1000))),
        (T::Int, json!("9223372036854775807"), Ok(json!(i64::MAX))),
        (T::Int, json!("-9223372036854775808"), Ok(json!(i64::MIN))),
        (
            T::Int,
            json!("9223372036854775808"),
            Err("strconv.ParseInt: value out of range"),
        ),
        (T::Int, json!(" 3"), Err(bad_int)),
        (T::Int, json!("_1"), Err(bad_int)),
        (T::Int, json!("1__0"), Err(bad_int)),
        (T::Int, json!(1.0), Err(bad_int)),
        (T::Int, json!(1.5), Err(bad_int)),
        (T::Int, json!("1.0"), Err(bad_int)),
        (T::Int, json!("abc"), Err(bad_int)),
        (
            T::Int,
            json!([1]),
            Err("'' expected type 'int', got unconvertible type '[]interface {}'"),
        ),
        (
            T::Int,
            json!({"a": 1}),
            Err("got unconvertible type 'map[string]interface {}'"),
        ),
        // TypeBool: Go's ParseBool spellings, numbers 1 and 0, "" (false).
        (T::Bool, json!(true), Ok(json!(true))),
        (T::Bool, json!("false"), Ok(json!(false))),
        (T::Bool, json!("False"), Ok(json!(false))),
        (T::Bool, json!("FALSE"), Ok(json!(false))),
        (T::Bool, json!("f"), Ok(json!(false))),
        (T::Bool, json!("0"), Ok(json!(false))),
        (T::Bool, json!(""), Ok(json!(false))),
        (T::Bool, json!("true"), Ok(json!(true))),
        (T::Bool, json!("t"), Ok(json!(true))),
        (T::Bool, json!(1), Ok(json!(true))),
        (T::Bool, json!(0), Ok(json!(false))),
        (T::Bool, json!(2), Err(bad_bool)),
        (T::Bool, json!("yes"), Err(bad_bool)),
        (T::Bool, json!("fAlse"), Err(bad_bool)),
        (T::Bool, json!(1.0), Err(bad_bool)),
        (
            T::Bool,
            json!([true]),
            Err("'' expected type 'bool', got unconvertible type '[]interface {}'"),
        ),
        // TypeDurationSecond: Go durations, days, seconds, "" (zero); no negatives.
        (T::DurationSecond, json!(3600), Ok(json!(3600))),
        (T::DurationSecond, json!("3600"), Ok(json!(3600))),
        (T::DurationSecond, json!("1h"), Ok(json!(3600))),
        (T::DurationSecond, json!("1h30m"), Ok(json!(5400))),
        (T::DurationSecond, json!("90s"), Ok(json!(90))),
        (T::DurationSecond, json!("1.5h"), Ok(json!(5400))),
        (T::DurationSecond, json!("1500ms"), Ok(json!(1))),
        (T::DurationSecond, json!("2d"), Ok(json!(172_800))),
        (T::DurationSecond, json!(""), Ok(json!(0))),
        (T::DurationSecond, json!(" 60 "), Ok(json!(60))),
        (T::DurationSecond, json!("-1h"), Err(negative)),
        (
            T::DurationSecond,
            json!(-5),
            Err("cannot provide negative value '-5'"),
        ),
        (T::DurationSecond, json!("-5"), Err(negative)),
        (T::DurationSecond, json!(1.5), Err("time: invalid duration")),
        (
            T::DurationSecond,
            json!("1x"),
            Err("time: invalid duration"),
        ),
        (T::DurationSecond, json!("h"), Err("time: invalid duration")),
        (
            T::DurationSecond,
            json!("1d12h"),
            Err("time: invalid duration"),
        ),
        (
            T::DurationSecond,
            json!("100000000h"),
            Err("time: invalid duration"),
        ),
        (
            T::DurationSecond,
            json!(true),
            Err("could not parse duration from input"),
        ),
        // TypeSignedDurationSecond: the same, negatives kept.
        (T::SignedDurationSecond, json!("-1h"), Ok(json!(-3600))),
        (T::SignedDurationSecond, json!(-5), Ok(json!(-5))),
        (
            T::SignedDurationSecond,
            json!("-x"),
            Err("time: invalid duration"),
        ),
        // TypeString: text, numbers and booleans as Go's weak decoding writes them.
        (T::String, json!("a"), Ok(json!("a"))),
        (T::String, json!(3), Ok(json!("3"))),
        (T::String, json!(true), Ok(json!("1"))),
        (
            T::String,
            json!(["a"]),
            Err("'' expected type 'string', got unconvertible type '[]interface {}'"),
        ),
        (T::LowerCaseString, json!("AbC"), Ok(json!("abc"))),
        (T::SecretString, json!("hunter2"), Ok(json!("hunter2"))),
        // TypeStringSlice: one string is one item; items trimmed.
        (T::StringSlice, json!("a,b"), Ok(json!(["a,b"]))),
        (T::StringSlice, json!([" a", 2]), Ok(json!(["a", "2"]))),
        (T::StringSlice, json!(""), Ok(json!([]))),
        (
            T::StringSlice,
            json!([["a"]]),
            Err("'[0]' expected type 'string'"),
        ),
        // TypeCommaStringSlice: a string is split at commas.
        (T::CommaStringSlice, json!("a, b"), Ok(json!(["a", "b"]))),
        (T::CommaStringSlice, json!(["a,b"]), Ok(json!(["a,b"]))),
        (T::CommaStringSlice, json!(""), Ok(json!([]))),
        (
            T::CommaStringSlice,
            json!({"a": 1}),
            Err("expected type '[]string'"),
        ),
        // TypeCommaIntSlice: integers, integer text, comma-separated text.
        (T::CommaIntSlice, json!([1, "2"]), Ok(json!([1, 2]))),
        (T::CommaIntSlice, json!("1,2"), Ok(json!([1, 2]))),
        (T::CommaIntSlice, json!(3), Ok(json!([3]))),
        (T::CommaIntSlice, json!(""), Ok(json!([]))),
        (
            T::CommaIntSlice,
            json!("1,x"),
            Err("'[1]' cannot parse value as 'int'"),
        ),
        (
            T::CommaIntSlice,
            json!(["x"]),
            Err("'[0]' cannot parse value as 'int'"),
        ),
        // TypeMap: an object ("" is the empty one).
        // TypeSlice: lists as they are; anything else lifted into a one-item list.
        (T::Slice, json!([{"a": 1}, 2]), Ok(json!([{"a": 1}, 2]))),
        (T::Slice, json!({}), Ok(json!([]))),
        (T::Slice, json!({"a": 1}), Ok(json!([{"a": 1}]))),
        (T::Slice, json!("x"), Ok(json!(["x"]))),
        (T::Map, json!({"a": 1}), Ok(json!({"a": 1}))),
        (T::Map, json!(""), Ok(json!({}))),
        (
            T::Map,
            json!("not an object"),
            Err("'' expected type 'map[string]interface {}', got unconvertible type 'string'"),
        ),
        (
            T::Map,
            json!([1]),
            Err("got unconvertible type '[]interface {}'"),
        ),
        (
            T::Map,
            json!(3),
            Err("got unconvertible type 'json.Number'"),
        ),
        // TypeKVPairs: a map of scalars, or key=value strings.
        (
            T::KvPairs,
            json!({"a": "1", "b": 2, "c": true}),
            Ok(json!({"a": "1", "b": "2", "c": "1"})),
        ),
        (
            T::KvPairs,
            json!(["a=1", "b=x=y"]),
            Ok(json!({"a": "1", "b": "x=y"})),
        ),
        (T::KvPairs, json!(["a"]), Err("invalid key pair \"a\"")),
        (T::KvPairs, json!(["=a"]), Err("invalid key pair \"=a\"")),
        (
            T::KvPairs,
            json!({"a": {"b": 1}}),
            Err("'[a]' expected type 'string'"),
        ),
        (
            T::KvPairs,
            json!(3),
            Err("expected type 'map[string]string'"),
        ),
    ];
    for (ty, input, expected) in rows {
        let got = ty.decode(input.clone());
        match (expected, &got) {
            (Ok(want), Ok(value)) => assert_eq!(value, want, "{ty:?} {input}"),
            (Err(part), Err(detail)) => {
                assert!(
                    detail.contains(part),
                    "{ty:?} {input}: {detail:?} lacks {part:?}"
                );
                // The check used before the policy decision agrees with the decoding.
                assert!(ty.check(input).is_err(), "{ty:?} {input}");
            }
            _ => panic!("{ty:?} {input}: expected {expected:?}, got {got:?}"),
        }
    }
}

#[derive(Debug)]
struct Probe {
    endpoints: Endpoints<Probe>,
}

fn echo<'a>(_: &'a Probe, _: &'a Context, fields: Fields<'a>) -> HandlerFuture<'a> {
    Box::pin(async move {
        let mut data = serde_json::Map::new();
        data.insert("path".into(), fields.request().path.clone().into());
        data.insert(
            "set".into(),
            json!(
                ["n", "flag", "ttl", "name"]
                    .iter()
                    .filter(|n| fields.is_set(n))
                    .collect::<Vec<_>>()
            ),
        );
        if fields.is_set("n") {
            data.insert("n".into(), fields.get::<i64>("n")?.into());
        }
        if fields.is_declared("flag") {
            data.insert("flag".into(), fields.get::<bool>("flag")?.into());
            let ttl = fields.get::<std::time::Duration>("ttl")?;
            data.insert("ttl".into(), ttl.as_secs().into());
        }
        if fields.is_declared("name")
            && let Some(name) = fields.get_ok::<&str>("name")?
        {
            data.insert("name".into(), name.into());
        }
        Ok(Response::with_data(data))
    })
}

fn empty<'a>(_: &'a Probe, _: &'a Context, _: Fields<'a>) -> HandlerFuture<'a> {
    Box::pin(async { Ok(Response::empty()) })
}

fn misuse<'a>(_: &'a Probe, _: &'a Context, fields: Fields<'a>) -> HandlerFuture<'a> {
    Box::pin(async move {
        let err = fields.get::<bool>("undeclared").unwrap_err();
        assert!(matches!(err, LogicalError::Internal(_)), "{err:?}");
        let err = fields.get::<bool>("n").unwrap_err();
        assert!(matches!(err, LogicalError::Internal(_)), "{err:?}");
        let n: std::result::Result<u64, _> = fields.get("n");
        Err(n.unwrap_err())
    })
}

fn yes<'a>(_: &'a Probe, _: &'a Context, fields: Fields<'a>) -> ExistsFuture<'a> {
    Box::pin(async move { Ok(fields.get::<&str>("name")? == "there") })
}

impl Probe {
    fn new() -> Self {
        let endpoints = Endpoints::new(
            "A probe.",
            vec![
                Endpoint::new("config")
                    .field("n", Field::new(FieldType::Int, "a number"))
                    .field("flag", Field::new(FieldType::Bool, "a flag").default(true))
                    .field(
                        "ttl",
                        Field::new(FieldType::DurationSecond, "a ttl").default("1h"),
                    )
                    .read(echo)
                    .write(empty)
                    .synopsis("Configure."),
                Endpoint::new("items/?").list(echo),
                Endpoint::new("items/{name}")
                    .field("n", Field::new(FieldType::Int, "").required())
                    .read(echo)
                    .write(echo)
                    .delete(misuse)
                    .exists(yes),
                Endpoint::new("items/{name}/{rest*}").read(echo),
                Endpoint::new("admin/{name}").read(echo).sudo(),
                Endpoint::new("login").write(echo).unauthenticated(),
                Endpoint::new("raw/{path*}").arbitrary_input().write(echo),
                Endpoint::new("roles/{name}")
                    .field("name", Field::new(FieldType::LowerCaseString, "folded"))
                    .read(echo)
                    .exists(yes),
            ],
        );
        Self { endpoints }
    }

    async fn call(&self, op: Operation, path: &str, body: Value) -> Result<Response> {
        let request =
            Request::new(op, path).with_data(body.as_object().cloned().unwrap_or_default());
        self.endpoints.handle(self, &ctx(), request).await
    }
}

fn ctx() -> Context {
    let storage = std::sync::Arc::new(strongroom_storage::MemoryStorage::new());
    Context::new(StorageView::new(storage, "logical/p/").unwrap(), "p/")
}

#[tokio::test]
async fn routing_decoding_and_warnings() {
    let probe = Probe::new();
    assert!(
        probe.endpoints.problems().is_empty(),
        "{:?}",
        probe.endpoints.problems()
    );

    // Defaults apply to unset fields; the body's text converts by type.
    let read = probe
        .call(Operation::Read, "config", json!({"n": "3"}))
        .await
        .unwrap();
    let data = read.data.unwrap();
    assert_eq!(data["n"], 3);
    assert_eq!(data["flag"], true);
    assert_eq!(data["ttl"], 3600);
    assert!(read.warnings.is_empty());
    let read = probe
        .call(
            Operation::Read,
            "config",
            json!({"flag": "false", "ttl": "", "n": null}),
        )
        .await
        .unwrap();
    let data = read.data.unwrap();
    assert_eq!(data["flag"], false);
    assert_eq!(data["ttl"], 0);
    assert_eq!(data["set"], json!(["flag", "ttl"]), "null is unset");

    // Unknown fields: a warning on a response with a body, sorted as Go prints them.
    let read = probe
        .call(Operation::Read, "config", json!({"zeta": 1, "alpha": 2}))
        .await
        .unwrap();
    assert_eq!(
        read.warnings,
        ["Endpoint ignored these unrecognized parameters: [alpha zeta]"]
    );
    // ...none on an empty answer (Vault has no response to put it on).
    let write = probe
        .call(Operation::Update, "config", json!({"zeta": 1}))
        .await
        .unwrap();
    assert!(write.warnings.is_empty() && write.data.is_none());
    // ...none where the endpoint takes arbitrary input; the handler sees those fields.
    let raw = probe
        .call(Operation::Update, "raw/a/b", json!({"zeta": 1}))
        .await
        .unwrap();
    assert!(raw.warnings.is_empty(), "{:?}", raw.warnings);
    // A body field named like a capture is replaced by the path's value, with Vault's warning.
    let read = probe
        .call(Operation::Read, "items/x", json!({"name": "y"}))
        .await
        .unwrap();
    assert_eq!(read.data.as_ref().unwrap()["name"], "x");
    assert_eq!(
        read.warnings,
        [
            "Endpoint replaced the value of these parameters with the values captured from the \
          endpoint's path: [name]"
        ]
    );

    // Values that do not convert: 400 in Vault's words, before the handler runs.
    let err = probe
        .call(Operation::Read, "config", json!({"n": "abc"}))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Field validation failed: error converting input for field \"n\": '' cannot parse \
         value as 'int': strconv.ParseInt: invalid syntax"
    );
    let err = probe
        .call(Operation::Update, "config", json!({"ttl": "-1s"}))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Field validation failed: error converting input for field \"ttl\": cannot provide \
         negative value '-1'"
    );

    // First match wins; its operations decide.
    let list = probe
        .call(Operation::List, "items/", json!({}))
        .await
        .unwrap();
    assert_eq!(list.data.unwrap()["path"], "items/");
    let deep = probe
        .call(Operation::Read, "items/x/y/z", json!({}))
        .await
        .unwrap();
    assert_eq!(deep.data.unwrap()["path"], "items/x/y/z");
    let err = probe
        .call(Operation::Patch, "items/x", json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, LogicalError::UnsupportedOperation), "{err:?}");
    assert_eq!(err.to_string(), "unsupported operation");
    let err = probe
        .call(Operation::Read, "nothing", json!({}))
        .await
        .unwrap_err();
    assert!(matches!(err, LogicalError::UnsupportedPath), "{err:?}");
    assert_eq!(err.to_string(), "unsupported path");

    // A typed getter refuses names and types not declared, and negative values read unsigned.
    let err = probe
        .call(Operation::Delete, "items/x", json!({"n": -1}))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Field validation failed: error converting input for field \"n\": cannot provide \
         negative value '-1'"
    );
}

#[tokio::test]
async fn security_lists_and_existence_checks_come_from_declarations() {
    let probe = Probe::new();
    let e = &probe.endpoints;
    assert!(e.needs_sudo("admin/x"));
    assert!(!e.needs_sudo("admin"));
    assert!(!e.needs_sudo("items/x"));
    assert!(e.is_unauthenticated("login"));
    assert!(!e.is_unauthenticated("login/x"));
    assert!(!e.is_unauthenticated("config"));

    let ask = |op, path: &str, body: Value| {
        Request::new(op, path).with_data(body.as_object().cloned().unwrap_or_default())
    };
    let ctx = ctx();
    let (probe, ctx) = (&probe, &ctx);
    let exists = |r: Request| async move { e.exists(probe, ctx, &r).await };
    assert_eq!(
        exists(ask(Operation::Update, "items/there", json!({})))
            .await
            .unwrap(),
        Some(true)
    );
    assert_eq!(
        exists(ask(Operation::Create, "items/gone", json!({})))
            .await
            .unwrap(),
        Some(false)
    );
    assert_eq!(
        exists(ask(Operation::Read, "items/there", json!({})))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        exists(ask(Operation::Update, "config", json!({})))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        exists(ask(Operation::Update, "nowhere", json!({})))
            .await
            .unwrap(),
        None
    );
    // Validation happens at the existence check too, in the words Vault uses there.
    let err = exists(ask(Operation::Update, "items/there", json!({"n": "x"})))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "error converting input for field \"n\": '' cannot parse value as 'int': \
         strconv.ParseInt: invalid syntax"
    );
}

#[test]
fn bad_declarations_are_problems_not_panics() {
    let endpoints: Endpoints<Probe> = Endpoints::new(
        "",
        vec![
            Endpoint::new("a/{x*}/b").read(empty),
            Endpoint::new("n/{x}")
                .field("x", Field::new(FieldType::Int, ""))
                .read(empty),
            Endpoint::new("d")
                .field(
                    "t",
                    Field::new(FieldType::DurationSecond, "").default("soon"),
                )
                .read(empty),
            Endpoint::new("d").read(empty),
            Endpoint::new("none"),
            Endpoint::new("f")
                .field("q", Field::new(FieldType::Int, ""))
                .field("q", Field::new(FieldType::Int, ""))
                .read(empty),
        ],
    );
    let problems = endpoints.problems().join("\n");
    for part in [
        "rest capture",
        "must be a string",
        "default does not decode",
        "declared twice",
        "serves no operation",
        "field \"q\" declared twice",
    ] {
        assert!(problems.contains(part), "{part}: {problems}");
    }
}

#[test]
fn secret_text_is_redacted() {
    let secret = SecretText::from_canonical(&json!("hunter2")).unwrap();
    assert_eq!(secret.expose(), "hunter2");
    assert_eq!(format!("{secret:?}"), "SecretText([REDACTED])");
}

#[test]
fn openapi_document_describes_every_declaration() {
    let probe = Probe::new();
    let doc = openapi_document(&[("p/", probe.endpoints.infos())]);
    let paths = doc["paths"].as_object().unwrap();
    let config = &paths["/p/config"];
    assert_eq!(config["get"]["summary"], "Configure.");
    let props =
        &config["post"]["requestBody"]["content"]["application/json"]["schema"]["properties"];
    assert_eq!(props["n"]["type"], "integer");
    assert_eq!(props["flag"]["default"], true);
    assert_eq!(props["ttl"]["format"], "duration");
    assert_eq!(props["ttl"]["default"], "3600s");
    assert_eq!(paths["/p/items/"]["get"]["parameters"][0]["name"], "list");
    let item = &paths["/p/items/{name}"];
    assert_eq!(item["parameters"][0]["in"], "path");
    assert_eq!(item["x-vault-createSupported"], true);
    let required =
        &item["post"]["requestBody"]["content"]["application/json"]["schema"]["required"];
    assert_eq!(required, &json!(["n"]));
    assert_eq!(paths["/p/admin/{name}"]["x-vault-sudo"], true);
    assert_eq!(paths["/p/login"]["x-vault-unauthenticated"], true);
    assert!(paths.contains_key("/p/items/{name}/{rest}"));
}

/// A `LowerCaseString` capture reaches the handler and the existence check lower-cased, as
/// Vault's `FieldData` reads it (review finding: captures were handed over as written).
#[tokio::test]
async fn lower_case_captures_are_folded() {
    let probe = Probe::new();
    assert!(
        probe.endpoints.problems().is_empty(),
        "{:?}",
        probe.endpoints.problems()
    );
    let read = probe
        .call(Operation::Read, "roles/AdMiN", json!({}))
        .await
        .unwrap();
    assert_eq!(read.data.unwrap()["name"], "admin");
    let request = Request::new(Operation::Update, "roles/THERE");
    assert_eq!(
        probe
            .endpoints
            .exists(&probe, &ctx(), &request)
            .await
            .unwrap(),
        Some(true)
    );
}

/// The path a host decides access on folds the same captures the handler reads folded, and
/// nothing else.
#[test]
fn canonical_paths_fold_declared_lower_case_captures_only() {
    let probe = Probe::new();
    let endpoints = &probe.endpoints;
    assert_eq!(
        endpoints.canonical_path("roles/AdMiN").as_deref(),
        Some("roles/admin")
    );
    assert_eq!(endpoints.canonical_path("roles/admin"), None);
    assert_eq!(endpoints.canonical_path("items/ABC"), None);
    assert_eq!(endpoints.canonical_path("nowhere/ABC"), None);
}
