//! Redirects: followed within the origin the request went to, never to another host, port or
//! scheme, where the token header would go with them.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use strongroom_client::{Client, Error};

async fn listen(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    format!("http://{addr}")
}

fn redirect(to: String) -> impl IntoResponse {
    (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, to)])
}

/// A second server that counts every request reaching it, and those carrying a token.
async fn elsewhere() -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let (hits, tokens) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (h, t) = (hits.clone(), tokens.clone());
    let router = Router::new().fallback(move |headers: HeaderMap| {
        let (h, t) = (h.clone(), t.clone());
        async move {
            h.fetch_add(1, Ordering::SeqCst);
            if headers.contains_key("x-vault-token") {
                t.fetch_add(1, Ordering::SeqCst);
            }
            axum::Json(serde_json::json!({ "data": { "stolen": true } }))
        }
    });
    (listen(router).await, hits, tokens)
}

#[tokio::test]
async fn same_origin_redirects_are_followed_with_the_token() {
    let router = Router::new()
        .route("/v1/old", get(|| async { redirect("/v1/new".into()) }))
        .route(
            "/v1/new",
            get(|headers: HeaderMap| async move {
                let token = headers
                    .get("x-vault-token")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                axum::Json(serde_json::json!({ "data": { "token_seen": token == "s.tok" } }))
            }),
        );
    let address = listen(router).await;
    let client = Client::builder(address).token("s.tok").build().unwrap();
    let secret = client.read("old").await.unwrap().unwrap();
    assert_eq!(secret.data["token_seen"], true);
}

#[tokio::test]
async fn redirects_to_another_port_or_host_are_refused_without_sending_the_token() {
    let (other, hits, tokens) = elsewhere().await;
    let other_port = other.rsplit(':').next().unwrap().to_owned();
    let to_port = format!("{other}/v1/steal");
    // The same port on another host name for loopback: another origin too.
    let to_host = format!("http://localhost:{other_port}/v1/steal");
    let router = Router::new()
        .route("/v1/port", get(move || async move { redirect(to_port) }))
        .route("/v1/host", get(move || async move { redirect(to_host) }));
    let address = listen(router).await;
    let client = Client::builder(address).token("s.tok").build().unwrap();
    for path in ["port", "host"] {
        match client.read(path).await {
            Err(Error::Redirect { location, .. }) => {
                assert!(location.ends_with("/v1/steal"), "{location}");
            }
            other => panic!("{path}: {other:?}"),
        }
    }
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "the other origin was contacted"
    );
    assert_eq!(tokens.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn redirect_loops_end() {
    let router = Router::new().route("/v1/loop", get(|| async { redirect("/v1/loop".into()) }));
    let client = Client::builder(listen(router).await).build().unwrap();
    assert!(client.read("loop").await.is_err());
}
