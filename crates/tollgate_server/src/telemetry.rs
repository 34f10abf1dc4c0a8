//! Logs and request observation: the tracing subscriber (text or JSON), the `x-request-id`
//! on every response, one log line per request, the logging of 5xx details (once, here), and
//! the metrics record.

use std::convert::Infallible;
use std::future::Future;
use std::io::IsTerminal;
use std::io::Write;
use std::pin::Pin;
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method};
use axum::response::Response;
use pin_project_lite::pin_project;
use tower::{Layer, Service};
use tracing::Span;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::error::ErrorDetail;
use crate::state::AppState;

/// A header name made once: one given as a `&str` is parsed, and allocated when it is not a
/// standard one, on every insert.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Pages load only our own script and stylesheet (no inline code), and are never framed.
const CONTENT_SECURITY_POLICY: HeaderValue = HeaderValue::from_static(
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     object-src 'none'; base-uri 'self'; frame-ancestors 'none'",
);

/// The security headers of every response (issue 24, finding 5). `Cache-Control: no-store`
/// keeps session answers and CSRF tokens out of shared caches unless a handler chose otherwise
/// (the compiled-in assets).
fn secure(headers: &mut axum::http::HeaderMap, https: bool) {
    use axum::http::header;
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    headers.insert(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if https {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000; includeSubDomains"),
        );
    }
}

/// A metrics label for the method: the standard ones, else `other`, so that requests with
/// made-up method tokens cannot grow `/metrics` without bound (issue 24, finding 10).
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}

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
    // Formatted on the stack: the header value is then the id's one allocation.
    let mut id = std::io::Cursor::new([0u8; 33]);
    let _ = write!(id, "{:016x}-{n:x}", ids.prefix);
    let len = usize::try_from(id.position()).unwrap_or(0);
    HeaderValue::from_bytes(&id.get_ref()[..len])
        .expect("hex digits and a dash are a valid header value")
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

// The two layers below are written as tower services rather than with
// `axum::middleware::from_fn`, which boxes the inner service and the future on every request:
// 2 µs of a webhook delivery's 24 here (docs/benchmarks.md).

/// Inner layer (route layer): records which route pattern matched, for `ObserveLayer`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TagRouteLayer;

impl<S> Layer<S> for TagRouteLayer {
    type Service = TagRoute<S>;

    fn layer(&self, inner: S) -> TagRoute<S> {
        TagRoute { inner }
    }
}

#[derive(Clone, Debug)]
pub struct TagRoute<S> {
    inner: S,
}

impl<S> Service<Request> for TagRoute<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = TagRouteFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let path = request.extensions().get::<MatchedPath>().cloned();
        TagRouteFuture {
            inner: self.inner.call(request),
            path,
        }
    }
}

pin_project! {
    pub struct TagRouteFuture<F> {
        #[pin]
        inner: F,
        path: Option<MatchedPath>,
    }
}

impl<F> Future for TagRouteFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut response) = ready!(this.inner.poll(cx));
        if let Some(path) = this.path.take() {
            response.extensions_mut().insert(Route(path));
        }
        Poll::Ready(Ok(response))
    }
}

/// Outer layer: request id, one log line, metrics.
#[derive(Clone)]
pub struct ObserveLayer {
    state: AppState,
}

impl ObserveLayer {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }
}

impl<S> Layer<S> for ObserveLayer {
    type Service = Observe<S>;

    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            state: self.state.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    state: AppState,
}

impl<S> Service<Request> for Observe<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ObserveFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // A caller's own id is kept (a proxy's, say); otherwise one is made. Only the span and
        // the response carry it: no handler reads it from the request.
        let request_id = request
            .headers()
            .get(REQUEST_ID)
            .filter(|v| {
                !v.is_empty() && v.len() <= 128 && v.as_bytes().iter().all(u8::is_ascii_graphic)
            })
            .cloned()
            .unwrap_or_else(new_request_id);
        let method = request.method().clone();
        let has_body = request
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .is_some_and(|length| length.as_bytes() != b"0")
            || request
                .headers()
                .contains_key(axum::http::header::TRANSFER_ENCODING);
        let id = request_id.to_str().unwrap_or_default();
        let span = tracing::info_span!("request", request.id = %id, http.method = %method);
        let inner = {
            let _entered = span.enter();
            self.inner.call(request)
        };
        ObserveFuture {
            inner,
            span,
            request_id: Some(request_id),
            method,
            has_body,
            started: Instant::now(),
            state: self.state.clone(),
        }
    }
}

pin_project! {
    pub struct ObserveFuture<F> {
        #[pin]
        inner: F,
        span: Span,
        request_id: Option<HeaderValue>,
        method: Method,
        // The request declared a body, which a refusal may have left unread.
        has_body: bool,
        started: Instant,
        state: AppState,
    }
}

impl<F> Future for ObserveFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let Ok(mut response) = ready!(this.inner.poll(cx));
        let elapsed = this.started.elapsed();
        let route = response
            .extensions()
            .get::<Route>()
            .map_or("unmatched", |r| r.0.as_str());
        let status = response.status();
        this.state
            .metrics
            .record(route, method_label(this.method), status.as_u16(), elapsed);
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
        if let Some(request_id) = this.request_id.take() {
            response.headers_mut().insert(REQUEST_ID, request_id);
        }
        secure(
            response.headers_mut(),
            this.state.config.server.base_url.starts_with("https://"),
        );
        if *this.has_body && (status.is_client_error() || status.is_server_error()) {
            // A refusal may leave the body unread; past a small amount hyper then drops the
            // connection without a word, and a client reusing it gets a reset. Saying so lets
            // it open another (issue 24, finding 6).
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                HeaderValue::from_static("close"),
            );
        }
        Poll::Ready(Ok(response))
    }
}
