//! The `Origin` check on cookie-authenticated writes, beside the CSRF token (issue 24): a
//! browser names the page a request came from, and a write made with tollgate's cookie must
//! come from tollgate's own origin (`server.base_url`). Requests without `Origin` (older
//! browsers on same-origin form posts, every non-browser client) rely on the CSRF token alone.

use axum::http::HeaderMap;
use axum::http::header::ORIGIN;

use crate::error::ApiError;

/// `scheme://host[:port]` of a URL, as browsers write `Origin`.
fn origin_of(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(path) => &url[..after_scheme + path],
        None => url,
    }
}

/// Refuses a write whose `Origin` is present and is not `base_url`'s.
pub fn check(headers: &HeaderMap, base_url: &str) -> Result<(), ApiError> {
    let Some(origin) = headers.get(ORIGIN) else {
        return Ok(());
    };
    let expected = origin_of(base_url.trim_end_matches('/'));
    if origin
        .to_str()
        .is_ok_and(|o| o.eq_ignore_ascii_case(expected))
    {
        Ok(())
    } else {
        Err(ApiError::OriginRejected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_origin(origin: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(ORIGIN, origin.parse().expect("header"));
        headers
    }

    #[test]
    fn only_our_own_origin_or_none_passes() {
        let base = "https://billing.example.com/";
        assert!(check(&HeaderMap::new(), base).is_ok());
        assert!(check(&with_origin("https://billing.example.com"), base).is_ok());
        for other in [
            "https://evil.example",
            "https://sub.billing.example.com",
            "http://billing.example.com",
            "https://billing.example.com:8443",
            "null",
        ] {
            assert!(check(&with_origin(other), base).is_err(), "{other}");
        }
        assert!(
            check(
                &with_origin("http://127.0.0.1:8080"),
                "http://127.0.0.1:8080"
            )
            .is_ok()
        );
        assert_eq!(
            origin_of("https://a.example/base/path"),
            "https://a.example"
        );
    }
}
