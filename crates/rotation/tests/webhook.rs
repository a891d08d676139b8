//! Alerts delivered to a webhook: a loopback HTTP server receives the JSON of each alert; an
//! unreachable or failing webhook does not stop the rotation.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code"
)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use strongroom_rotation::{Alert, AlertKind, AlertSink, Step, WebhookSink};

#[tokio::test]
async fn alerts_are_posted_as_json() {
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let store = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let store = store.clone();
            async move {
                store.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let sink = WebhookSink::new(&format!("http://{addr}/hook"), Duration::from_secs(5)).unwrap();
    sink.alert(&Alert {
        secret: "db".into(),
        at: 1_800_000_000,
        kind: AlertKind::StepFailed {
            step: Step::Test,
            error: "login failed".into(),
        },
    })
    .await;
    let got = received.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["secret"], "db");
    assert_eq!(got[0]["kind"], "step_failed");
    assert_eq!(got[0]["step"], "test");
    assert_eq!(got[0]["error"], "login failed");

    // A dead webhook: the alert call returns (bounded by the timeout) without panicking.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = WebhookSink::new(
        &format!("http://127.0.0.1:{port}/hook"),
        Duration::from_secs(2),
    )
    .unwrap();
    dead.alert(&Alert {
        secret: "db".into(),
        at: 0,
        kind: AlertKind::Overdue { late_by: 60 },
    })
    .await;
    assert!(WebhookSink::new("ftp://x", Duration::from_secs(1)).is_err());
}
