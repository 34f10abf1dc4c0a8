//! The console's overview: MRR, subscriptions by status, the revenue chart.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use time::Duration;
use tollgate_core::member::{self};

use super::{STATUSES, status_label};
use crate::pages::chart::{self, RevenueChart};
use crate::pages::format::money;
use crate::pages::session::AdminVisitor;
use crate::pages::{Layout, PageError, html};
use crate::state::AppState;

pub struct Stat {
    pub label: String,
    pub value: String,
}

#[derive(Template)]
#[template(path = "admin/overview.html")]
struct OverviewPage {
    layout: Layout,
    stats: Vec<Stat>,
    by_status: Vec<(String, &'static str, i64)>,
    chart: RevenueChart,
    other_currencies: Vec<String>,
}

pub async fn overview(
    State(state): State<AppState>,
    AdminVisitor(admin): AdminVisitor,
) -> Result<Response, PageError> {
    let now = state.clock.now();
    let days = 90;
    let today = now.unix_timestamp().div_euclid(86_400);
    let revenue_since = time::OffsetDateTime::from_unix_timestamp((today - (days - 1)) * 86_400)
        .unwrap_or(now - Duration::days(days));
    let facts = state
        .store
        .overview(now - Duration::days(30), revenue_since)
        .await?;
    let mrr = member::monthly_recurring_revenue(&facts, &state.catalog);
    let currency = state
        .catalog
        .plans
        .first()
        .map(|p| p.currency.clone())
        .unwrap_or_else(|| "usd".into());
    let mrr_text = if mrr.is_empty() {
        money(0, &currency)
    } else {
        mrr.iter()
            .map(|(c, amount)| money(*amount, c))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    let active: i64 = facts.entitled_by_plan.iter().map(|(_, n)| n).sum();
    let in_currency: Vec<(i64, i64)> = facts
        .revenue_by_day
        .iter()
        .filter(|(_, c, _)| c.eq_ignore_ascii_case(&currency))
        .map(|(day, _, amount)| (*day, *amount))
        .collect();
    let mut other_currencies: Vec<String> = facts
        .revenue_by_day
        .iter()
        .filter(|(_, c, _)| !c.eq_ignore_ascii_case(&currency))
        .map(|(_, c, _)| c.to_uppercase())
        .collect();
    other_currencies.sort();
    other_currencies.dedup();
    let by_status = STATUSES
        .iter()
        .map(|s| {
            let count = facts
                .members_by_status
                .iter()
                .find(|(status, _)| status == s)
                .map_or(0, |(_, n)| *n);
            (s.as_str().to_string(), status_label(*s), count)
        })
        .collect();
    let page = OverviewPage {
        layout: Layout::new(&state, Some(&admin), "Overview", "admin"),
        stats: vec![
            Stat {
                label: "Monthly recurring revenue".into(),
                value: mrr_text,
            },
            Stat {
                label: "Active subscriptions".into(),
                value: active.to_string(),
            },
            Stat {
                label: "New in the last 30 days".into(),
                value: facts.new_subscriptions.to_string(),
            },
            Stat {
                label: "Churned in the last 30 days".into(),
                value: facts.churned_subscriptions.to_string(),
            },
        ],
        by_status,
        chart: chart::revenue(&in_currency, &currency, now, days),
        other_currencies,
    };
    Ok(html(&page))
}
