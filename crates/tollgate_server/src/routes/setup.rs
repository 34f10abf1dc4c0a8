//! Creating the first admin with the one-time token `serve` printed: as JSON, or through a
//! small form that works without JavaScript.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use tollgate_core::account::{self, Role, User};
use tollgate_core::audit::Actor;
use tollgate_core::{Email, Secret};

use super::accounts::session_response;
use crate::auth::hashing::BlockingPool;
use crate::error::{ApiError, ErrorCode};
use crate::json::ApiJson;
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirstAdmin {
    token: Secret,
    email: Email,
    password: Secret,
}

async fn create(state: &AppState, request: &FirstAdmin) -> Result<User, ApiError> {
    // Taken before anything else, so that concurrent requests with the token make one admin.
    let Some(claim) = state.setup.claim(request.token.expose()) else {
        return Err(ApiError::Coded {
 code: ErrorCode::SetupClosed,
            message: "this setup link is not valid; use `tollgate admin create` or restart serve for a new link".into(),
        });
    };
    if state.store.count_users(Some(Role::Admin)).await? > 0 {
        claim.spend();
        return Err(ApiError::Coded {
            code: ErrorCode::SetupClosed,
            message: "an admin already exists".into(),
        });
    }
    let user = account::register(
        state.store.as_ref(),
        state.clock.as_ref(),
        &state.policy,
        &BlockingPool,
        account::Registration {
            email: request.email.clone(),
            password: request.password.clone(),
            role: Role::Admin,
            actor: Some(Actor::System),
            signup: account::Signup::default(),
        },
    )
    .await?;
    claim.spend();
    tracing::info!(user.id = %user.id, "first admin created through the setup link");
    Ok(user)
}

pub async fn create_first_admin(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<FirstAdmin>,
) -> Result<Response, ApiError> {
    let user = create(&state, &request).await?;
    let session = account::start_session(
        state.store.as_ref(),
        state.clock.as_ref(),
        &state.policy,
        &user,
    )
    .await?;
    Ok(session_response(
        &state,
        StatusCode::CREATED,
        &user,
        &session,
    ))
}

pub async fn page(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if !state.setup.is_open() {
        return (StatusCode::NOT_FOUND, Html(shell("Setup is closed", "<p>An admin exists already. Log in, or use <code>tollgate admin create</code>.</p>"))).into_response();
    }
    let token = query.get("token").map(|t| escape(t)).unwrap_or_default();
    let form = format!(
        r#"<form method="post" action="/setup">
<input type="hidden" name="token" value="{token}">
<p><label for="email">Email</label><br><input id="email" name="email" type="email" required autocomplete="username"></p>
<p><label for="password">Password (at least {min} characters)</label><br><input id="password" name="password" type="password" required minlength="{min}" autocomplete="new-password"></p>
<p><button type="submit">Create the first admin</button></p>
</form>"#,
        min = state.policy.password_min_length
    );
    Html(shell("Create the first admin", &form)).into_response()
}

pub async fn submit(
    State(state): State<AppState>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    let parsed = Email::parse(&field("email")).map(|email| FirstAdmin {
        token: Secret::new(field("token")),
        email,
        password: Secret::new(field("password")),
    });
    let outcome = match parsed {
        Ok(request) => create(&state, &request).await,
        Err(_) => Err(ApiError::invalid_field(
            "email",
            "email is not a valid email address",
        )),
    };
    match outcome {
        Ok(user) => Html(shell(
            "Admin created",
            &format!(
                "<p>{} is now an admin. Log in with <code>POST /api/v1/auth/login</code>.</p>",
                escape(&user.email.map(String::from).unwrap_or_default())
            ),
        ))
        .into_response(),
        Err(error) => {
            let status = error.status();
            let message = match &error {
                ApiError::InvalidField { message, .. } | ApiError::Coded { message, .. } => {
                    message.clone()
                }
                other => other.code().as_str().to_string(),
            };
            (
                status,
                Html(shell(
                    "Could not create the admin",
                    &format!(
                        "<p role=\"alert\">{}</p><p><a href=\"/setup\">Back</a></p>",
                        escape(&message)
                    ),
                )),
            )
                .into_response()
        }
    }
}

fn shell(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{title} · tollgate</title><style>body{{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#111}}\
input{{width:100%;padding:.5rem;font-size:1rem}}button{{padding:.6rem 1rem;font-size:1rem}}</style></head>\
<body><h1>{title}</h1>{body}</body></html>"
    )
}

/// Escapes text for HTML element and attribute content.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape("<script>\"x\"&'y'"),
            "&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;"
        );
    }
}
