//! The platform admin's tenants (seed 003): create, list, show, change fees, add tenant admins.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tollgate_core::store::Page;
use tollgate_core::tenant::{NewTenantRequest, TenantScope};
use tollgate_core::{Email, Secret, TenantId};

use super::admin::{before, limit, page_body};
use crate::auth::Admin;
use crate::auth::hashing::BlockingPool;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::path::ApiPath;
use crate::state::AppState;
use crate::wire;
use crate::wire::UserBody;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    name: String,
    email: String,
    country: String,
    #[serde(default)]
    application_fee_bps: i64,
    #[serde(default)]
    application_fee_fixed: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    application_fee_bps: i64,
    application_fee_fixed: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantAdmin {
    email: Email,
    password: Option<Secret>,
}

/// The scope of the tenant named in the path, for the platform admin; unknown ids are 404s.
fn scope(admin: &Admin, id: &str) -> Result<TenantScope, ApiError> {
    let id = TenantId::parse(id).map_err(|_| ApiError::NotFound)?;
    TenantScope::for_platform_admin(&admin.0.user, id).ok_or(ApiError::Forbidden)
}

pub async fn create(
    State(state): State<AppState>,
    admin: Admin,
    ApiJson(body): ApiJson<CreateTenant>,
) -> Result<Response, ApiError> {
    let tenant = state
        .tenants()
        .create(
            &admin.0.user,
            NewTenantRequest {
                name: body.name,
                email: body.email,
                country: body.country,
                application_fee_bps: body.application_fee_bps,
                application_fee_fixed: body.application_fee_fixed,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(wire::TenantBody::of(&tenant))).into_response())
}

pub async fn list(
    State(state): State<AppState>,
    _admin: Admin,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let page = Page {
        limit: limit(&query)?,
        before: before(&query, TenantId::parse)?,
    };
    let tenants = state.tenants().list(page).await?;
    Ok(page_body(
        &tenants,
        page.limit,
        |t| t.id,
        wire::TenantBody::of,
    ))
}

pub async fn show(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let tenant = state.tenants().tenant(&scope(&admin, &id)?).await?;
    Ok(Json(wire::TenantBody::of(&tenant)).into_response())
}

pub async fn update(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<UpdateTenant>,
) -> Result<Response, ApiError> {
    let scope = scope(&admin, &id)?;
    let tenant = state
        .tenants()
        .update_fees(
            &admin.0.user,
            &scope,
            body.application_fee_bps,
            body.application_fee_fixed,
        )
        .await?;
    Ok(Json(wire::TenantBody::of(&tenant)).into_response())
}

pub async fn create_admin(
    State(state): State<AppState>,
    admin: Admin,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<CreateTenantAdmin>,
) -> Result<Response, ApiError> {
    let scope = scope(&admin, &id)?;
    let user = state
        .tenants()
        .add_admin(
            &admin.0.user,
            &scope,
            body.email,
            body.password,
            &state.policy,
            &BlockingPool,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(UserBody::of(&user))).into_response())
}
