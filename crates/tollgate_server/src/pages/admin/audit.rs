//! The audit log.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use tollgate_core::AuditId;
use tollgate_core::store::Page;

use super::{AuditLine, PAGE_SIZE, audit_line};
use crate::pages::session::AdminVisitor;
use crate::pages::{Layout, PageError, html};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    layout: Layout,
    audit: Vec<AuditLine>,
    next: Option<String>,
}

pub async fn audit(
    State(state): State<AppState>,
    AdminVisitor(admin): AdminVisitor,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, PageError> {
    let before = query.get("before").and_then(|b| AuditId::parse(b).ok());
    let entries = state
        .store
        .audit_log(Page {
            limit: PAGE_SIZE,
            before,
        })
        .await?;
    let next = (entries.len() == PAGE_SIZE as usize)
        .then(|| entries.last())
        .flatten()
        .map(|last| format!("/admin/audit?before={}", last.id));
    let page = AuditPage {
        layout: Layout::new(&state, Some(&admin), "Audit log", "admin-audit"),
        audit: entries.iter().map(audit_line).collect(),
        next,
    };
    Ok(html(&page))
}
