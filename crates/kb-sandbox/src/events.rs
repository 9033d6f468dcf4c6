//! Event subscriptions (create/read/delete, spec §8.1) and the notifier that calls the app's
//! Event API: `GET {eventApiUrl}/version` before activating, then
//! `POST {eventApiUrl}/subscriptions/{id}/events` with `x-api-key` and `{"eventCount":n}`, at
//! most once per configured interval; ACTIVE → SUSPENDED → STOPPED on failures (§8.2).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::context::Ctx;
use super::gateway::{self, AdaaGate, Env, adaa_error, authorise_account};
use super::state::{SubscriptionRecord, SubscriptionStatus, TokenRecord};

fn info(s: &SubscriptionRecord) -> Value {
    let mut v = json!({
        "subscriptionId": s.subscription_id,
        "eventApiUrl": s.event_api_url,
        "eventApiVersion": "1.0",
        "status": s.status,
    });
    if let Some(n) = &s.status_narrative {
        v["statusNarrative"] = json!(n);
    }
    v
}

/// Only loopback Event APIs are ever called (the sandbox never leaves the machine).
pub fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn base(url: &str) -> String {
    url.trim_end_matches('/').to_owned()
}

async fn version_ok(ctx: &Ctx, url: &str) -> Result<(), String> {
    let resp = ctx
        .http
        .get(format!("{}/version", base(url)))
        .header("x-correlation-id", uuid::Uuid::new_v4().to_string())
        .send()
        .await
        .map_err(|e| format!("Connection error: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("Event API /version answered {}", resp.status()));
    }
    let v: Value = resp
        .json()
        .await
        .map_err(|e| format!("Event API /version body: {e}"))?;
    match v.get("version").and_then(Value::as_str) {
        Some(s) if (3..=5).contains(&s.len()) => Ok(()),
        _ => Err("Event API /version must return {\"version\":\"1.0\"}".to_owned()),
    }
}

/// `POST .../transactions/event-subscriptions`.
pub async fn create(
    State(ctx): State<Ctx>,
    Path(account_id): Path<String>,
    AdaaGate { token, route }: AdaaGate,
    body: Bytes,
) -> Response {
    if let Err(r) = authorise_account(&ctx, &token, &account_id) {
        return r;
    }
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return adaa_error(
            StatusCode::BAD_REQUEST,
            None,
            "Request body is not valid JSON",
        );
    };
    let url = req
        .get("eventApiUrl")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let key = req
        .get("eventApiKey")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let parsed = url::Url::parse(&url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"));
    let Some(parsed) = parsed.filter(|_| url.len() >= 10) else {
        return gateway::adaa_param_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            "eventApiUrl must be a URL",
            "eventApiUrl",
            &url,
        );
    };
    if route.version >= 2 && key.is_empty() {
        return gateway::adaa_param_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            "eventApiKey is required",
            "eventApiKey",
            "",
        );
    }
    let callable = is_loopback(&parsed);
    if callable {
        if let Err(e) = version_ok(&ctx, &url).await {
            return adaa_error(
                StatusCode::BAD_REQUEST,
                Some("EVENT_API_NOT_AVAILABLE"),
                &format!("Event API check failed: {e}"),
            );
        }
    } else if route.env == Env::Production {
        return adaa_error(
            StatusCode::BAD_REQUEST,
            Some("EVENT_API_NOT_AVAILABLE"),
            "Event API is not reachable (the KB sandbox calls loopback addresses only)",
        );
    }
    let sub = SubscriptionRecord {
        subscription_id: uuid::Uuid::new_v4().to_string(),
        account_id: account_id.clone(),
        client_id: token.client_id.clone(),
        event_api_url: url,
        event_api_key: key,
        status: SubscriptionStatus::Active,
        status_narrative: None,
        pending_events: 0,
        failures: 0,
        last_attempt_at: None,
        last_notified_at: None,
        callable,
    };
    let body = info(&sub);
    let location = format!(
        "{}{}/adaa/v{}/accounts/{}/transactions/event-subscriptions/{}",
        ctx.api_base,
        if route.env == Env::Sandbox {
            "/sandbox"
        } else {
            ""
        },
        route.version,
        account_id,
        sub.subscription_id
    );
    ctx.store.update(|s| s.subscriptions.push(sub));
    let status = if route.env == Env::Sandbox && ctx.cfg.quirks.subscription_create_status_200 {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    gateway::with_header(
        gateway::json_status(status, body),
        header::LOCATION,
        &location,
    )
}

/// The subscription `id` (braces and case ignored) of an account the token may see, created by
/// the token's client; KB's error answer otherwise (400 for the account, 404 for the rest).
#[allow(clippy::result_large_err)]
fn find(
    ctx: &Ctx,
    token: &TokenRecord,
    account_id: &str,
    id: &str,
) -> Result<SubscriptionRecord, Response> {
    authorise_account(ctx, token, account_id)?;
    let wanted = id
        .trim_start_matches('{')
        .trim_end_matches('}')
        .to_ascii_lowercase();
    ctx.store
        .read()
        .subscriptions
        .iter()
        .find(|s| {
            s.subscription_id == wanted
                && s.account_id == account_id
                && s.client_id == token.client_id
        })
        .cloned()
        .ok_or_else(|| adaa_error(StatusCode::NOT_FOUND, None, "Subscription not found"))
}

/// `GET .../event-subscriptions/{subscriptionId}`.
pub async fn read(
    State(ctx): State<Ctx>,
    Path((account_id, id)): Path<(String, String)>,
    AdaaGate { token, .. }: AdaaGate,
) -> Response {
    match find(&ctx, &token, &account_id, &id) {
        Ok(s) => gateway::json_status(StatusCode::OK, info(&s)),
        Err(r) => r,
    }
}

/// `DELETE .../event-subscriptions/{subscriptionId}`.
pub async fn delete(
    State(ctx): State<Ctx>,
    Path((account_id, id)): Path<(String, String)>,
    AdaaGate { token, .. }: AdaaGate,
) -> Response {
    let s = match find(&ctx, &token, &account_id, &id) {
        Ok(s) => s,
        Err(r) => return r,
    };
    ctx.store.update(|st| {
        st.subscriptions
            .retain(|x| x.subscription_id != s.subscription_id)
    });
    StatusCode::NO_CONTENT.into_response()
}

enum Outcome {
    Delivered(u32),
    Halt(String),
    Failed(String),
}

async fn call(ctx: Ctx, sub: SubscriptionRecord) -> (String, Outcome) {
    let url = format!(
        "{}/subscriptions/{}/events",
        base(&sub.event_api_url),
        sub.subscription_id
    );
    let sent = ctx
        .http
        .post(&url)
        .header("x-correlation-id", uuid::Uuid::new_v4().to_string())
        .header("x-api-key", &sub.event_api_key)
        .header("Accept-Language", "CZ")
        .json(&json!({ "eventCount": sub.pending_events }))
        .send()
        .await;
    let outcome = match sent {
        Ok(r) if r.status().is_success() || r.status() == reqwest::StatusCode::BAD_REQUEST => {
            Outcome::Delivered(sub.pending_events)
        }
        Ok(r) if matches!(r.status().as_u16(), 401 | 403 | 404) => {
            Outcome::Halt(format!("HTTP {}: {url}", r.status().as_u16()))
        }
        Ok(r) => Outcome::Failed(format!("HTTP {}: {url}", r.status().as_u16())),
        Err(e) if e.is_timeout() => Outcome::Failed(format!("Connection Timeout: {url}")),
        Err(_) => Outcome::Failed(format!("Connection Error: {url}")),
    };
    (sub.subscription_id, outcome)
}

fn due(ctx: &Ctx, s: &SubscriptionRecord, now: time::OffsetDateTime) -> bool {
    if !s.callable || s.pending_events == 0 {
        return false;
    }
    let ev = &ctx.cfg.events;
    match s.status {
        SubscriptionStatus::Stopped => false,
        SubscriptionStatus::Active => s
            .last_notified_at
            .is_none_or(|t| now - t >= ev.min_interval),
        SubscriptionStatus::Suspended => s
            .last_attempt_at
            .is_none_or(|t| now - t >= ev.suspended_retry_interval),
    }
}

/// Background task delivering notifications until shutdown.
pub async fn notifier(ctx: Ctx, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(ctx.cfg.events.tick) => {}
            _ = ctx.notify.notified() => {}
            _ = shutdown.changed() => return,
        }
        let now = ctx.now();
        let work: Vec<SubscriptionRecord> = ctx
            .store
            .read()
            .subscriptions
            .iter()
            .filter(|s| due(&ctx, s, now))
            .cloned()
            .collect();
        if work.is_empty() {
            continue;
        }
        let mut set = JoinSet::new();
        for sub in work {
            set.spawn(call(ctx.clone(), sub));
        }
        let mut results = Vec::new();
        while let Some(r) = set.join_next().await {
            if let Ok(r) = r {
                results.push(r);
            }
        }
        let max_failures = ctx.cfg.events.max_failures;
        let now = ctx.now();
        ctx.store.update(|st| {
            for (id, outcome) in results {
                let Some(s) = st
                    .subscriptions
                    .iter_mut()
                    .find(|s| s.subscription_id == id)
                else {
                    continue;
                };
                s.last_attempt_at = Some(now);
                match outcome {
                    Outcome::Delivered(n) => {
                        s.pending_events = s.pending_events.saturating_sub(n);
                        s.status = SubscriptionStatus::Active;
                        s.failures = 0;
                        s.last_notified_at = Some(now);
                    }
                    Outcome::Halt(msg) => {
                        s.status = SubscriptionStatus::Stopped;
                        s.status_narrative = Some(msg);
                    }
                    Outcome::Failed(msg) => {
                        s.failures += 1;
                        s.status = if s.failures >= max_failures {
                            SubscriptionStatus::Stopped
                        } else {
                            SubscriptionStatus::Suspended
                        };
                        s.status_narrative = Some(msg);
                    }
                }
            }
        });
    }
}
