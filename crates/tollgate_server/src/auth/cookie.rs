//! The session cookie: `HttpOnly`, `SameSite=Lax`, `Secure` when served over https.

use axum::http::{HeaderMap, HeaderValue, header};
use time::OffsetDateTime;

pub const SESSION_COOKIE: &str = "tg_session";

/// The value of one cookie from the request's `Cookie` headers.
pub fn read(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_string())
}

pub fn set_session(
    token: &str,
    expires_at: OffsetDateTime,
    now: OffsetDateTime,
    secure: bool,
) -> HeaderValue {
    let max_age = (expires_at - now).whole_seconds().max(0);
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .expect("BUG: tokens are URL-safe base64")
}

pub fn clear_session(secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"
    ))
    .expect("BUG: constant cookie")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_named_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; tg_session=abc; b=2"),
        );
        assert_eq!(read(&headers, SESSION_COOKIE).as_deref(), Some("abc"));
        assert_eq!(read(&headers, "missing"), None);
    }

    #[test]
    fn the_cookie_is_http_only_lax_and_secure_on_https() {
        let now = OffsetDateTime::now_utc();
        let value = set_session("t", now + time::Duration::hours(1), now, true);
        let text = value.to_str().expect("ascii");
        assert!(
            text.contains("HttpOnly") && text.contains("SameSite=Lax") && text.contains("Secure")
        );
        assert!(text.contains("Max-Age=3600"));
        let plain = set_session("t", now + time::Duration::hours(1), now, false);
        assert!(!plain.to_str().expect("ascii").contains("Secure"));
    }
}
