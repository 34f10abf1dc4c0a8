//! Which scope an API key needs for each route: one table, consulted for every request that
//! authenticates with a key, and documented in the README (a test checks the two agree).
//! Sessions and JWTs are not scoped: they act with all their user's rights.

use axum::http::Method;
use tollgate_core::api_key::Scope;

/// What a key needs to call a route, by its path as declared in the router.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    Scope(Scope),
    /// Keys and sessions are managed by a signed-in person only: a leaked key that could
    /// mint keys or end sessions would outlive its own revocation.
    SignedIn,
}

/// `(method or "*", path prefix, what a key needs)`, first match wins. A prefix ending in `/`
/// covers the routes below it; otherwise it names one route.
pub const TABLE: &[(&str, &str, Needs)] = &[
    ("*", "/api/v1/api-keys", Needs::SignedIn),
    ("*", "/api/v1/api-keys/", Needs::SignedIn),
    ("*", "/api/v1/sessions", Needs::SignedIn),
    ("*", "/api/v1/auth/", Needs::SignedIn),
    (
        "GET",
        "/api/v1/users/{id}/entitlements",
        Needs::Scope(Scope::EntitlementsRead),
    ),
    (
        "GET",
        "/api/v1/users/{id}/subscription",
        Needs::Scope(Scope::EntitlementsRead),
    ),
    (
        "GET",
        "/api/v1/entitlements",
        Needs::Scope(Scope::EntitlementsRead),
    ),
    (
        "GET",
        "/api/v1/subscription",
        Needs::Scope(Scope::EntitlementsRead),
    ),
    (
        "GET",
        "/api/v1/usage",
        Needs::Scope(Scope::EntitlementsRead),
    ),
    (
        "GET",
        "/api/subscription/{user_id}",
        Needs::Scope(Scope::EntitlementsRead),
    ),
    (
        "POST",
        "/api/v1/usage/consume",
        Needs::Scope(Scope::UsageWrite),
    ),
    ("*", "/api/v1/admin/", Needs::Scope(Scope::Admin)),
    ("*", "/api/stripe/refund", Needs::Scope(Scope::Admin)),
    ("*", "/api/v1/tenant/", Needs::Scope(Scope::Tenant)),
    ("*", "/api/v1/connect/", Needs::Scope(Scope::Tenant)),
    ("*", "/api/stripe/connect/", Needs::Scope(Scope::Tenant)),
    // Everything else a key may call is its owner's own billing.
    ("*", "/", Needs::Scope(Scope::Billing)),
];

pub fn needed(method: &Method, route: &str) -> Needs {
    TABLE
        .iter()
        .find(|(m, prefix, _)| {
            (*m == "*" || *m == method.as_str())
                && if prefix.ends_with('/') {
                    route.starts_with(prefix)
                } else {
                    route == *prefix
                }
        })
        .map(|(_, _, needs)| *needs)
        .unwrap_or(Needs::Scope(Scope::Billing))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_matching_row_decides() {
        assert_eq!(
            needed(&Method::GET, "/api/v1/users/{id}/entitlements"),
            Needs::Scope(Scope::EntitlementsRead)
        );
        assert_eq!(
            needed(&Method::POST, "/api/v1/usage/consume"),
            Needs::Scope(Scope::UsageWrite)
        );
        assert_eq!(
            needed(&Method::POST, "/api/v1/admin/refunds"),
            Needs::Scope(Scope::Admin)
        );
        assert_eq!(needed(&Method::POST, "/api/v1/api-keys"), Needs::SignedIn);
        assert_eq!(
            needed(&Method::POST, "/api/v1/checkout/credits"),
            Needs::Scope(Scope::Billing)
        );
        // `/api/v1/usage` names one route, not `/api/v1/usage/consume` too.
        assert_eq!(
            needed(&Method::GET, "/api/v1/usage"),
            Needs::Scope(Scope::EntitlementsRead)
        );
    }

    /// The README's table, row by row: every route it names needs the scope it says, and
    /// every row of `TABLE` but the catch-all is named there.
    #[test]
    fn the_readme_table_says_what_this_table_does() {
        let readme = include_str!("../../../../README.md");
        let rows = readme
            .lines()
            .skip_while(|line| !line.starts_with("| routes | scope a key needs |"))
            .skip(2)
            .take_while(|line| line.starts_with("| "));
        let mut named = Vec::new();
        for row in rows {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let needs = match cells[2].split('`').nth(1) {
                Some(name) if cells[2].starts_with('`') => {
                    Needs::Scope(Scope::parse(name).expect("a scope name"))
                }
                _ => Needs::SignedIn,
            };
            for item in cells[1].split('`').skip(1).step_by(2) {
                let (methods, path) = match item.split_once(' ') {
                    Some((method, path)) => (vec![method], path),
                    None => (vec!["GET", "POST"], item),
                };
                let prefix = path.trim_end_matches('…');
                // `…` covers what is below: `/admin/…` the routes under it, `/api-keys…` the
                // route itself and those under it.
                let routes = match (path.ends_with('…'), prefix.ends_with('/')) {
                    (false, _) => vec![prefix.to_string()],
                    (true, true) => vec![format!("{prefix}x")],
                    (true, false) => vec![prefix.to_string(), format!("{prefix}/x")],
                };
                for method in methods {
                    let method = Method::from_bytes(method.as_bytes()).expect("a method");
                    for route in &routes {
                        assert_eq!(needed(&method, route), needs, "README: {method} {route}");
                    }
                }
                named.push(prefix.to_string());
            }
        }
        for (_, prefix, _) in TABLE.iter().filter(|(_, p, _)| *p != "/") {
            assert!(
                named
                    .iter()
                    .any(|n| n == prefix || n == prefix.trim_end_matches('/')),
                "{prefix} is not in the README's scope table"
            );
        }
    }
}
