//! Logs and request observation: the tracing subscriber (text or JSON), the `x-request-id`
//! on every response, one log line per request, the logging of 5xx details (once, here), and
//! the metrics record.

use std::fmt::Write;
use std::io::IsTerminal;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::error::ErrorDetail;
use crate::state::AppState;

pub const REQUEST_ID: &str = "x-request-id";

/// The route pattern a request matched, carried out to the observing middleware.
#[derive(Clone)]
struct Route(MatchedPath);

/// Request ids: a random prefix drawn once per process and a counter. Unique across
/// instances and restarts without drawing randomness per request (a v4 UUID asks the kernel
/// each time: a system call on every webhook delivery).
struct RequestIds {
    prefix: u64,
    next: AtomicU64,
}

static REQUEST_IDS: LazyLock<RequestIds> = LazyLock::new(|| RequestIds {
    prefix: uuid::Uuid::new_v4().as_u64_pair().0,
    next: AtomicU64::new(1),
});

fn new_request_id() -> HeaderValue {
    let ids = &*REQUEST_IDS;
    let n = ids.next.fetch_add(1, Ordering::Relaxed);
    let mut id = String::with_capacity(32);
    let _ = write!(id, "{:016x}-{n:x}", ids.prefix);
    HeaderValue::from_str(&id).expect("hex digits and a dash are a valid header value")
}

/// Installs the global subscriber; `RUST_LOG` overrides the default `info` filter. The
/// `stripe` target (async-stripe) warns on every non-2xx answer, expected 404s included: errors only.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,hyper=warn,stripe=error"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    // try_init: tests may initialise more than once.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Inner layer (route layer): records which route pattern matched.
pub async fn tag_route(path: Option<MatchedPath>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if let Some(path) = path {
        response.extensions_mut().insert(Route(path));
    }
    response
}

/// Outer layer: request id, one log line, metrics.
pub async fn observe(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .filter(|v| {
            !v.is_empty() && v.len() <= 128 && v.as_bytes().iter().all(u8::is_ascii_graphic)
        })
        .cloned()
        .unwrap_or_else(new_request_id);
    request.headers_mut().insert(REQUEST_ID, request_id.clone());
    let method = request.method().clone();
    let started = Instant::now();
    let id = request_id.to_str().unwrap_or_default();
    let span = tracing::info_span!("request", request.id = %id, http.method = %method);
    let mut response = next.run(request).instrument(span.clone()).await;
    let elapsed = started.elapsed();
    let route = response
        .extensions()
        .get::<Route>()
        .map_or("unmatched", |r| r.0.as_str());
    let status = response.status();
    state
        .metrics
        .record(route, method.as_str(), status.as_u16(), elapsed);
    let _entered = span.enter();
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    match response.extensions().get::<ErrorDetail>() {
        Some(ErrorDetail(detail)) => tracing::error!(
            http.route = %route, http.status = status.as_u16(), duration_ms, error.detail = %detail,
            "request failed"
        ),
        None => {
            tracing::info!(http.route = %route, http.status = status.as_u16(), duration_ms, "request")
        }
    }
    response.headers_mut().insert(REQUEST_ID, request_id);
    response
}
