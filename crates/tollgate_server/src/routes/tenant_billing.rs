//! A tenant admin billing the tenant's customers (seed 003): customers and one-off invoices on
//! the tenant's connected account, with the platform's application fee. Every handler works in
//! the caller's own tenant scope: another tenant's id is a 404, never a leak.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tollgate_core::connect::{ChargeAmounts, InvoiceLine};
use tollgate_core::store::Page;
use tollgate_core::tenant_billing::{
    NewInvoiceRequest, TenantCustomer, TenantInvoice, TenantRefund,
};
use tollgate_core::{TenantCustomerId, TenantInvoiceId};

use super::admin::{before, limit, page_body};
use crate::auth::TenantAdmin;
use crate::error::ApiError;
use crate::json::ApiJson;
use crate::path::ApiPath;
use crate::state::AppState;

#[derive(Serialize)]
pub struct CustomerBody<'a> {
    id: String,
    email: &'a str,
    name: Option<&'a str>,
    stripe_customer_id: &'a str,
    #[serde(with = "time::serde::rfc3339")]
    created_at: time::OffsetDateTime,
}

impl<'a> CustomerBody<'a> {
    fn of(customer: &'a TenantCustomer) -> Self {
        CustomerBody {
            id: customer.id.to_string(),
            email: customer.email.as_str(),
            name: customer.name.as_deref(),
            stripe_customer_id: customer.stripe_customer_id.as_str(),
            created_at: customer.created_at,
        }
    }
}

#[derive(Serialize)]
pub struct InvoiceBody<'a> {
    id: String,
    customer_id: String,
    currency: &'a str,
    lines: &'a [InvoiceLine],
    total: i64,
    days_until_due: u32,
    /// `draft`, `open`, `paid`, `void` or `uncollectible`.
    status: &'static str,
    application_fee: Option<i64>,
    stripe_invoice_id: Option<&'a str>,
    pay_url: Option<&'a str>,
    /// From the charge's balance transaction, once paid: `{gross, stripe_fee, application_fee, net}`.
    amounts: Option<ChargeAmounts>,
    failure: Option<&'a str>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: time::OffsetDateTime,
}

impl<'a> InvoiceBody<'a> {
    fn of(invoice: &'a TenantInvoice) -> Self {
        InvoiceBody {
            id: invoice.id.to_string(),
            customer_id: invoice.customer_id.to_string(),
            currency: &invoice.currency,
            lines: &invoice.lines,
            total: invoice.total,
            days_until_due: invoice.days_until_due,
            status: invoice.status.as_str(),
            application_fee: invoice.application_fee,
            stripe_invoice_id: invoice.stripe_invoice_id.as_ref().map(|i| i.as_str()),
            pay_url: invoice.pay_url.as_deref(),
            amounts: invoice.amounts,
            failure: invoice.failure.as_deref(),
            created_at: invoice.created_at,
        }
    }
}

#[derive(Serialize)]
pub struct RefundBody<'a> {
    id: String,
    invoice_id: String,
    amount: i64,
    refund_application_fee: bool,
    /// `pending`, `succeeded`, `failed` or `canceled`.
    status: &'a str,
    stripe_refund_id: Option<&'a str>,
    #[serde(with = "time::serde::rfc3339")]
    created_at: time::OffsetDateTime,
}

impl<'a> RefundBody<'a> {
    fn of(refund: &'a TenantRefund) -> Self {
        RefundBody {
            id: refund.id.to_string(),
            invoice_id: refund.invoice_id.to_string(),
            amount: refund.amount,
            refund_application_fee: refund.refund_application_fee,
            status: &refund.status,
            stripe_refund_id: refund.stripe_refund_id.as_ref().map(|r| r.as_str()),
            created_at: refund.created_at,
        }
    }
}

/// One invoice with its refunds.
#[derive(Serialize)]
pub struct InvoiceDetail<'a> {
    #[serde(flatten)]
    invoice: InvoiceBody<'a>,
    refunds: Vec<RefundBody<'a>>,
}

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
    Ok((StatusCode::CREATED, Json(CustomerBody::of(&customer))).into_response())
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
        CustomerBody::of,
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
    Ok((StatusCode::CREATED, Json(InvoiceBody::of(&invoice))).into_response())
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
    Ok(page_body(&invoices, page.limit, |i| i.id, InvoiceBody::of))
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
    Ok(Json(InvoiceDetail {
        invoice: InvoiceBody::of(&invoice),
        refunds: refunds.iter().map(RefundBody::of).collect(),
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
    Ok(Json(InvoiceBody::of(&invoice)).into_response())
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
    Ok(Json(InvoiceBody::of(&invoice)).into_response())
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
    Ok((StatusCode::CREATED, Json(RefundBody::of(&refund))).into_response())
}
