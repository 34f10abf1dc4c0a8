//! A tenant admin billing the tenant's customers (seed 003): customers and one-off invoices on
//! the tenant's connected account, with the platform's application fee. Every handler works in
//! the caller's own tenant scope: another tenant's id is a 404, never a leak.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use tollgate_core::connect::InvoiceLine;
use tollgate_core::store::Page;
use tollgate_core::tenant_billing::NewInvoiceRequest;
use tollgate_core::{TenantCustomerId, TenantInvoiceId};

use super::admin::{before, limit, page_body};
use crate::auth::TenantAdmin;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::path::ApiPath;
use crate::state::AppState;
use crate::wire;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRefund {
    invoice_id: String,
    /// Minor units; absent: all that remains.
    amount: Option<i64>,
    /// Absent: the platform's fee goes back in proportion.
    refund_application_fee: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateCustomer {
    email: String,
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateInvoice {
    customer_id: String,
    currency: String,
    lines: Vec<InvoiceLine>,
    days_until_due: Option<i64>,
}

fn invoice_id(id: &str) -> Result<TenantInvoiceId, ApiError> {
    TenantInvoiceId::parse(id).map_err(|_| ApiError::NotFound)
}

pub async fn create_customer(
    State(state): State<AppState>,
    admin: TenantAdmin,
    ApiJson(body): ApiJson<CreateCustomer>,
) -> Result<Response, ApiError> {
    let customer = state
        .tenants()
        .customer_for(&admin.scope, &body.email, body.name)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(wire::TenantCustomerBody::of(&customer)),
    )
        .into_response())
}

pub async fn customers(
    State(state): State<AppState>,
    admin: TenantAdmin,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let page = Page {
        limit: limit(&query)?,
        before: before(&query, TenantCustomerId::parse)?,
    };
    let customers = state.tenants().customers(&admin.scope, page).await?;
    Ok(page_body(
        &customers,
        page.limit,
        |c| c.id,
        wire::TenantCustomerBody::of,
    ))
}

pub async fn create_invoice(
    State(state): State<AppState>,
    admin: TenantAdmin,
    ApiJson(body): ApiJson<CreateInvoice>,
) -> Result<Response, ApiError> {
    let invoice = state
        .tenants()
        .draft_invoice(
            &admin.scope,
            NewInvoiceRequest {
                customer_id: body.customer_id,
                currency: body.currency,
                lines: body.lines,
                days_until_due: body.days_until_due,
            },
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(wire::TenantInvoiceBody::of(&invoice)),
    )
        .into_response())
}

pub async fn invoices(
    State(state): State<AppState>,
    admin: TenantAdmin,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let page = Page {
        limit: limit(&query)?,
        before: before(&query, TenantInvoiceId::parse)?,
    };
    let invoices = state.tenants().invoices(&admin.scope, page).await?;
    Ok(page_body(
        &invoices,
        page.limit,
        |i| i.id,
        wire::TenantInvoiceBody::of,
    ))
}

pub async fn invoice(
    State(state): State<AppState>,
    admin: TenantAdmin,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let tenants = state.tenants();
    let id = invoice_id(&id)?;
    let invoice = tenants.invoice(&admin.scope, id).await?;
    let refunds = tenants.refunds_of(&admin.scope, id).await?;
    Ok(Json(wire::TenantInvoiceDetailBody {
        invoice: wire::TenantInvoiceBody::of(&invoice),
        refunds: refunds.iter().map(wire::TenantRefundBody::of).collect(),
    })
    .into_response())
}

pub async fn send_invoice(
    State(state): State<AppState>,
    admin: TenantAdmin,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let invoice = state
        .tenants()
        .send_invoice(&admin.scope, invoice_id(&id)?)
        .await?;
    Ok(Json(wire::TenantInvoiceBody::of(&invoice)).into_response())
}

pub async fn void_invoice(
    State(state): State<AppState>,
    admin: TenantAdmin,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let invoice = state
        .tenants()
        .void_invoice(&admin.scope, invoice_id(&id)?)
        .await?;
    Ok(Json(wire::TenantInvoiceBody::of(&invoice)).into_response())
}

/// `POST /api/v1/tenant/refunds`: refunds a paid invoice on the tenant's connected account.
pub async fn refund(
    State(state): State<AppState>,
    admin: TenantAdmin,
    ApiJson(body): ApiJson<CreateRefund>,
) -> Result<Response, ApiError> {
    let refund = state
        .tenants()
        .refund_invoice(
            &admin.scope,
            invoice_id(&body.invoice_id)?,
            body.amount,
            body.refund_application_fee,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(wire::TenantRefundBody::of(&refund)),
    )
        .into_response())
}
