//! Sign-in and sessions. A reviewer signs in with the name and password `tuban ledger user`
//! set (argon2 hashes in the ledger); the server answers with a random session token, as an
//! HttpOnly, SameSite=Strict cookie for the page and usable as `Authorization: Bearer` by
//! scripts. Every request of the API and every tile checks it on the server, and every lead
//! is checked against the reviewer's county ([`Reviewer::may_see`]).

use super::App;
use crate::ledger::review::Reviewer;
use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const COOKIE: &str = "tuban_session";
/// How long a session lasts without use.
const IDLE: Duration = Duration::from_secs(12 * 3600);

/// A signed-in session.
#[derive(Clone, Debug)]
pub struct Session {
    pub who: Reviewer,
    last: Instant,
}

/// A fresh random session token (32 bytes from the OS, hex).
fn token() -> String {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut b = [0u8; 32];
    OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The token a request carries (cookie or bearer header).
fn request_token(headers: &HeaderMap) -> Option<String> {
    if let Some(b) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(b.trim().to_string());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            c.trim()
                .strip_prefix(&format!("{COOKIE}="))
                .map(str::to_string)
        })
}

/// The signed-in reviewer of a request; a request without a live session is answered 401.
pub struct Auth(pub Reviewer);

impl FromRequestParts<Arc<App>> for Auth {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let refused = || (StatusCode::UNAUTHORIZED, "sign in first").into_response();
        let t = request_token(&parts.headers).ok_or_else(refused)?;
        let mut sessions = app.sessions.lock().map_err(|_| refused())?;
        match sessions.get_mut(&t) {
            Some(s) if s.last.elapsed() < IDLE => {
                s.last = Instant::now();
                Ok(Auth(s.who.clone()))
            }
            Some(_) => {
                sessions.remove(&t);
                Err(refused())
            }
            None => Err(refused()),
        }
    }
}

#[derive(serde::Deserialize)]
pub struct Login {
    name: String,
    password: String,
}

/// `POST /api/login`: the reviewer and a session cookie, or 401.
pub async fn login(State(app): State<Arc<App>>, Json(l): Json<Login>) -> Response {
    let a = app.clone();
    let found = tokio::task::spawn_blocking(move || {
        let mut ledger = a
            .ledger
            .lock()
            .map_err(|_| "the ledger is poisoned".to_string())?;
        ledger
            .login(&l.name, &l.password)
            .map_err(|e| e.to_string())
    })
    .await;
    match found {
        Ok(Ok(Some(who))) => {
            let t = token();
            if let Ok(mut s) = app.sessions.lock() {
                s.retain(|_, s| s.last.elapsed() < IDLE);
                s.insert(
                    t.clone(),
                    Session {
                        who: who.clone(),
                        last: Instant::now(),
                    },
                );
            }
            let cookie = format!("{COOKIE}={t}; HttpOnly; SameSite=Strict; Path=/");
            (
                [(header::SET_COOKIE, cookie)],
                Json(serde_json::json!({ "user": who, "token": t })),
            )
                .into_response()
        }
        Ok(Ok(None)) => (StatusCode::UNAUTHORIZED, "wrong name or password").into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// `POST /api/logout`: the session ends.
pub async fn logout(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    if let (Some(t), Ok(mut s)) = (request_token(&headers), app.sessions.lock()) {
        s.remove(&t);
    }
    let gone = format!("{COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0");
    ([(header::SET_COOKIE, gone)], StatusCode::NO_CONTENT).into_response()
}

/// `GET /api/me`.
pub async fn me(Auth(who): Auth) -> Json<Reviewer> {
    Json(who)
}
