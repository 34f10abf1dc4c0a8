//! A tenant admin's recurring contracts (seed 003, phase 4): subscriptions on the tenant's
//! connected account with the platform's fee, changed with proration, canceled now or at the
//! end of a period. As for invoices, another tenant's id is a 404.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use time::OffsetDateTime;
use tollgate_core::TenantContractId;
use tollgate_core::store::Page;
use tollgate_core::tenant_contracts::NewContractRequest;

use super::admin::{before, limit, page_body};
use crate::auth::TenantAdmin;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::path::ApiPath;
use crate::state::AppState;
use crate::wire;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateContract {
    customer_id: String,
    description: String,
    /// Absent: `usd`.
    currency: Option<String>,
    unit_amount: i64,
    /// `month` or `year`.
    interval: String,
    /// Seats; absent: 1.
    quantity: Option<i64>,
    /// Absent: 30.
    days_until_due: Option<i64>,
    /// RFC 3339; absent: the contract runs until canceled.
    #[serde(default, with = "time::serde::rfc3339::option")]
    ends_at: Option<OffsetDateTime>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeContract {
    quantity: Option<i64>,
    unit_amount: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelContract {
    /// Absent: true (the customer keeps the period it was invoiced for).
    at_period_end: Option<bool>,
}

fn contract_id(id: &str) -> Result<TenantContractId, ApiError> {
    TenantContractId::parse(id).map_err(|_| ApiError::NotFound)
}

fn contract_body(contract: &tollgate_core::tenant_contracts::TenantContract) -> Response {
    Json(wire::TenantContractBody::of(contract)).into_response()
}

pub async fn create(
    State(state): State<AppState>,
    admin: TenantAdmin,
    ApiJson(body): ApiJson<CreateContract>,
) -> Result<Response, ApiError> {
    let contract = state
        .tenants()
        .create_contract(
            &admin.scope,
            NewContractRequest {
                customer_id: body.customer_id,
                description: body.description,
                currency: body.currency,
                unit_amount: body.unit_amount,
                interval: body.interval,
                quantity: body.quantity,
                days_until_due: body.days_until_due,
                ends_at: body.ends_at,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(wire::TenantContractBody::of(&contract)),
    )
        .into_response())
}

pub async fn list(
    State(state): State<AppState>,
    admin: TenantAdmin,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let page = Page {
        limit: limit(&query)?,
        before: before(&query, TenantContractId::parse)?,
    };
    let contracts = state.tenants().contracts(&admin.scope, page).await?;
    Ok(page_body(
        &contracts,
        page.limit,
        |c| c.id,
        wire::TenantContractBody::of,
    ))
}

pub async fn show(
    State(state): State<AppState>,
    admin: TenantAdmin,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let contract = state
        .tenants()
        .contract(&admin.scope, contract_id(&id)?)
        .await?;
    Ok(contract_body(&contract))
}

pub async fn change(
    State(state): State<AppState>,
    admin: TenantAdmin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<ChangeContract>,
) -> Result<Response, ApiError> {
    let contract = state
        .tenants()
        .change_contract(
            &admin.scope,
            contract_id(&id)?,
            body.quantity,
            body.unit_amount,
        )
        .await?;
    Ok(contract_body(&contract))
}

pub async fn cancel(
    State(state): State<AppState>,
    admin: TenantAdmin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CancelContract>,
) -> Result<Response, ApiError> {
    let contract = state
        .tenants()
        .cancel_contract(
            &admin.scope,
            contract_id(&id)?,
            body.at_period_end.unwrap_or(true),
        )
        .await?;
    Ok(contract_body(&contract))
}
