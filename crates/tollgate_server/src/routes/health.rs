//! Liveness, readiness and metrics.

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::error::ApiError;
use crate::state::AppState;
use crate::wire::StatusBody;

/// The process is up.
pub async fn healthz() -> impl IntoResponse {
    Json(StatusBody { status: "ok" })
}

/// The database answers and every migration is applied.
pub async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    state.store.ready().await?;
    Ok(Json(StatusBody { status: "ready" }))
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
