//! Control page and JSON control endpoints for tests and demos: send a payment, fault
//! switches, the full ledger of an account, a state summary.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use time::OffsetDateTime;

use super::bank;
use super::config::FaultSettings;
use super::context::Ctx;
use super::html::{esc, page};

/// `/control/*` routes.
pub fn routes() -> Router<Ctx> {
    Router::new()
        .route("/control", get(control_page))
        .route("/control/state", get(summary))
        .route("/control/payments", post(send_payment))
        .route("/control/faults", get(get_faults).post(set_faults))
        .route("/control/ledger", get(ledger))
        .route("/control/book-pending", post(book_pending))
        .route("/control/transactions", post(add_raw_transaction))
        .route("/control/withdraw", post(withdraw))
}

/// Body of `POST /control/transactions`: any transaction row, exactly as the API should list
/// it (odd values included: float noise in `instructed`, statuses such as `SCHD`/`CNCL`/`RJCT`,
/// unknown enums, over-long texts, reversals, unreadable amounts). Reversal rows are given in
/// the sandbox's own convention (own `creditDebitIndicator`); the API may serve them in the
/// other one (`Behaviour::reversal_original_direction`).
#[derive(Debug, Deserialize)]
pub struct RawTransactionRequest {
    /// accountId or IBAN (default: the first account).
    pub account: Option<String>,
    pub transaction: Value,
}

async fn add_raw_transaction(
    State(ctx): State<Ctx>,
    Json(req): Json<RawTransactionRequest>,
) -> Response {
    let Some(account_id) = resolve_account(&ctx, req.account.as_deref()) else {
        return unknown_account();
    };
    if !req.transaction.is_object() {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "transaction must be a JSON object" })),
        )
            .into_response();
    }
    bank::book(&ctx, &account_id, req.transaction.clone());
    (
        StatusCode::CREATED,
        Json(json!({ "accountId": account_id, "transaction": req.transaction })),
    )
        .into_response()
}

/// Body of `POST /control/withdraw`.
#[derive(Debug, Deserialize)]
pub struct WithdrawRequest {
    /// accountId or IBAN.
    pub account: String,
    /// `references.accountServicer` of the row.
    pub account_servicer: String,
    /// The status it ends in (`CNCL`, `RJCT`, ...): a new copy with that status is listed.
    /// Without one, KB simply stops listing it (a cancelled future-dated order, a released
    /// hold).
    pub status: Option<String>,
}

/// Ends a not-booked row: KB lists it with a final status, or no longer lists it.
async fn withdraw(State(ctx): State<Ctx>, Json(req): Json<WithdrawRequest>) -> Response {
    let Some(account_id) = resolve_account(&ctx, Some(&req.account)) else {
        return unknown_account();
    };
    let servicer = &req.account_servicer;
    if bank::withdraw(&ctx, &account_id, servicer, req.status.as_deref()) {
        Json(json!({ "accountId": account_id })).into_response()
    } else {
        (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no unbooked transaction with that accountServicer" })),
        )
            .into_response()
    }
}

/// An account's id, found by id or IBAN (default: the first account).
fn resolve_account(ctx: &Ctx, key: Option<&str>) -> Option<String> {
    let st = ctx.store.read();
    let found = match key {
        Some(k) => st
            .accounts
            .iter()
            .find(|a| a.account_id == k || a.iban == k),
        None => st.accounts.first(),
    };
    found.map(|a| a.account_id.clone())
}

/// Body of `POST /control/payments`.
#[derive(Debug, Deserialize)]
pub struct PaymentRequest {
    /// accountId or IBAN (default: the first account).
    pub account: Option<String>,
    /// Amount in CZK (positive = incoming).
    pub amount: Option<f64>,
    /// Amount in minor units (wins over `amount`).
    pub amount_minor: Option<i64>,
    /// Variable symbol.
    pub vs: Option<String>,
    /// Message for the payee.
    pub message: Option<String>,
    /// Payer name.
    pub payer_name: Option<String>,
    /// Payer account: `prefix-number/bank` or an IBAN.
    pub payer_account: Option<String>,
    /// Booking time (RFC 3339, default now).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub booked_at: Option<OffsetDateTime>,
    /// Book as pending (status PDNG, no bookingDate).
    #[serde(default)]
    pub pending: bool,
}

fn apply_payer_account(tx: &mut Value, acct: &str) {
    let cp = &mut tx["counterParty"];
    if !cp.is_object() {
        *cp = json!({});
    }
    if acct.chars().count() > 4 && acct.chars().take(2).all(|c| c.is_ascii_alphabetic()) {
        cp["iban"] = json!(acct);
    } else if let Some((num, bank)) = acct.split_once('/') {
        let (prefix, number) = num.split_once('-').unwrap_or(("", num));
        cp["accountNo"] = json!(format!("{:0>6}{:0>10}", prefix, number));
        cp["bankCode"] = json!(bank);
    }
}

fn unknown_account() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": "unknown account" })),
    )
        .into_response()
}

async fn send_payment(State(ctx): State<Ctx>, Json(req): Json<PaymentRequest>) -> Response {
    let Some(account_id) = resolve_account(&ctx, req.account.as_deref()) else {
        return unknown_account();
    };
    let minor = req
        .amount_minor
        .or(req.amount.map(|a| (a * 100.0).round() as i64))
        .unwrap_or(0);
    if minor == 0 {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "amount or amount_minor required" })),
        )
            .into_response();
    }
    let at = req.booked_at.unwrap_or_else(|| ctx.now());
    let seed = ctx
        .store
        .read()
        .payment_counter
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ at.unix_timestamp_nanos() as u64;
    // A field left empty on the control page is not sent: a payment without a VS has no
    // `variable` reference at all, as at KB (not an empty one).
    fn given(text: &Option<String>) -> Option<&str> {
        text.as_deref().filter(|t| !t.trim().is_empty())
    }
    let texts = (given(&req.vs), given(&req.message), given(&req.payer_name));
    let Some(mut tx) = bank::new_payment(&ctx, &account_id, seed, minor, texts, at) else {
        return unknown_account();
    };
    if let Some(p) = given(&req.payer_account) {
        apply_payer_account(&mut tx, p);
    }
    if ctx.cfg.behaviour.booking_day_utc {
        // [I] setting: the bank's day as the UTC date of the instant.
        let day = at.to_offset(time::UtcOffset::UTC).date().to_string();
        tx["bookingDate"] = json!(day);
        tx["valueDate"] = json!(day);
    }
    if req.pending {
        tx["status"] = json!("PDNG");
        if let Some(o) = tx.as_object_mut() {
            o.remove("bookingDate");
        }
        if minor < 0 {
            // An outgoing pending payment is modelled as a card hold.
            tx["transactionType"] = json!("CARD");
            let expiry = (at + time::Duration::days(7)).date();
            tx["cardTransactionDetails"] = json!({ "holdExpirationDate": expiry.to_string() });
        }
    }
    bank::book(&ctx, &account_id, tx.clone());
    (
        StatusCode::CREATED,
        Json(json!({ "accountId": account_id, "transaction": tx })),
    )
        .into_response()
}

/// Body of `POST /control/book-pending`.
#[derive(Debug, Deserialize)]
pub struct BookPendingRequest {
    /// accountId or IBAN.
    pub account: String,
    /// `references.accountServicer` of the pending transaction.
    pub account_servicer: String,
}

/// Books a pending transaction (same `accountServicer`), as KB does when a hold settles.
async fn book_pending(State(ctx): State<Ctx>, Json(req): Json<BookPendingRequest>) -> Response {
    let Some(account_id) = resolve_account(&ctx, Some(&req.account)) else {
        return unknown_account();
    };
    match bank::book_pending(&ctx, &account_id, &req.account_servicer) {
        Some(tx) => Json(json!({ "accountId": account_id, "transaction": tx })).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no pending transaction with that accountServicer" })),
        )
            .into_response(),
    }
}

async fn get_faults(State(ctx): State<Ctx>) -> Json<FaultSettings> {
    Json(ctx.faults().clone())
}

async fn set_faults(State(ctx): State<Ctx>, Json(f): Json<FaultSettings>) -> Json<FaultSettings> {
    *ctx.faults() = f.clone();
    Json(f)
}

/// `GET /control/ledger?account=..[&raw=true]`: what the API lists now (every row in its latest
/// state, oldest first), or with `raw=true` the whole row log including superseded rows.
async fn ledger(State(ctx): State<Ctx>, Query(q): Query<HashMap<String, String>>) -> Response {
    let Some(account_id) = resolve_account(&ctx, q.get("account").map(String::as_str)) else {
        return unknown_account();
    };
    let st = ctx.store.read();
    let Some(a) = st.account(&account_id) else {
        return unknown_account();
    };
    if q.get("raw").is_some_and(|r| r == "true") {
        Json(&a.transactions).into_response()
    } else {
        Json(super::ledger::view_refs(&a.transactions, ctx.now())).into_response()
    }
}

async fn summary(State(ctx): State<Ctx>) -> Json<Value> {
    let st = ctx.store.read();
    Json(json!({
        "apiBaseUrl": ctx.api_base,
        "browserBaseUrl": ctx.browser_base,
        "apiKeys": { "production": st.production_keys, "sandbox": st.sandbox_keys },
        "users": st.users,
        "accounts": st.accounts.iter().map(|a| json!({
            "accountId": a.account_id, "iban": a.iban, "name": a.name, "currency": a.currency,
            "transactions": a.transactions.len(), "version": a.version,
        })).collect::<Vec<_>>(),
        "clients": st.clients.iter().map(|c| json!({
            "clientId": c.client_id, "userId": c.user_id, "accountIds": c.account_ids, "redirectUris": c.redirect_uris,
        })).collect::<Vec<_>>(),
        "subscriptions": st.subscriptions,
        "faults": *ctx.faults(),
    }))
}

/// `GET /`: links.
pub async fn index(State(ctx): State<Ctx>) -> Response {
    page(
        StatusCode::OK,
        "KB sandbox",
        &format!(
            "<h1>KB sandbox</h1><p>API (HTTPS): <code>{}</code></p><p><a href=\"/control\">Ovládací panel <span class=\"en\">(control panel)</span></a></p>",
            esc(&ctx.api_base)
        ),
    )
}

async fn control_page(State(ctx): State<Ctx>) -> Response {
    let st = ctx.store.read();
    let mut options = String::new();
    for u in &st.users {
        for id in &u.account_ids {
            if let Some(a) = st.account(id) {
                options.push_str(&format!(
                    "<option value=\"{}\">{} – {} ({})</option>",
                    esc(&a.account_id),
                    esc(&u.user_id),
                    esc(&a.name),
                    esc(&a.iban)
                ));
            }
        }
    }
    let subs: String = st
        .subscriptions
        .iter()
        .map(|s| {
            format!(
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&s.subscription_id),
                esc(&s.event_api_url),
                format!("{:?}", s.status).to_uppercase(),
                s.pending_events
            )
        })
        .collect();
    let body = format!(
        r#"<h1>Ovládací panel <span class="en">(Control panel)</span></h1>
<h2>Poslat platbu <span class="en">(Send a payment)</span></h2>
<form id="pay">
<label>Klient a účet <span class="en">(client and account)</span>: <select name="account">{options}</select></label><br>
<label>Částka Kč <span class="en">(amount CZK)</span>: <input name="amount" value="500"></label>
<label>VS: <input name="vs" value="2025001"></label><br>
<label>Zpráva <span class="en">(message)</span>: <input name="message" value="Členský příspěvek"></label><br>
<label>Plátce <span class="en">(payer name)</span>: <input name="payer_name" value="Jan Novák"></label>
<label>Účet plátce <span class="en">(payer account)</span>: <input name="payer_account" value="19-2000145399/0800"></label><br>
<button>Odeslat <span class="en">(Send)</span></button></form>
<h2>Poruchy <span class="en">(Faults)</span></h2>
<form id="faults">
<label>5xx: <input name="error_rate" value="0" size="4"></label>
<label>429: <input name="rate_limit_rate" value="0" size="4"></label>
<label>Timeout: <input name="timeout_rate" value="0" size="4"> ms <input name="timeout_ms" value="30000" size="6"></label>
<label>Drop: <input name="drop_rate" value="0" size="4"></label>
<label>Posun stránky <span class="en">(page shift)</span>: <input name="shift_next_pages" value="0" size="3"></label>
<button>Nastavit <span class="en">(Apply)</span></button></form>
<h2>Fronta poruch <span class="en">(Fault queue)</span></h2>
<form id="queue">
<label>Další požadavky <span class="en">(next requests, comma-separated, e.g. rate_limit@balances, unchanged@transactions, rate_limit@token, error@next-page)</span>:
<input name="next" size="60" value="rate_limit@balances"></label>
<button>Zařadit <span class="en">(Queue)</span></button></form>
<h2>Vlastní pohyb <span class="en">(Any transaction shape)</span></h2>
<form id="raw">
<label>Účet <span class="en">(account)</span>: <select name="account">{options}</select></label><br>
<textarea name="transaction" rows="8" cols="80">{{"lastUpdated":"2026-11-24T14:02:11.870233Z","accountType":"KB","iban":"","creditDebitIndicator":"CREDIT","transactionType":"SEPA","amount":{{"value":681.81,"currency":"CZK"}},"bookingDate":"2026-11-24","valueDate":"2026-11-24","instructed":{{"value":27.279999999999998,"currency":"EUR"}},"status":"BOOK","references":{{"accountServicer":"311892adb7f2b6aa","receiver":"Startovne"}}}}</textarea><br>
<button>Vložit <span class="en">(Insert)</span></button></form>
<h2>Odběry <span class="en">(Subscriptions)</span></h2><table><tr><th>id</th><th>url</th><th>status</th><th>pending</th></tr>{subs}</table>
<pre id="out"></pre>
<script>
const out = document.getElementById('out');
document.getElementById('pay').onsubmit = async (e) => {{
  e.preventDefault(); const f = new FormData(e.target); const b = Object.fromEntries(f);
  b.amount = parseFloat(b.amount);
  const r = await fetch('/control/payments', {{method:'POST', headers:{{'content-type':'application/json'}}, body: JSON.stringify(b)}});
  out.textContent = JSON.stringify(await r.json(), null, 2);
}};
document.getElementById('queue').onsubmit = async (e) => {{
  e.preventDefault(); const v = new FormData(e.target).get('next');
  const next = v.split(',').map(x => x.trim()).filter(x => x);
  const r = await fetch('/control/faults', {{method:'POST', headers:{{'content-type':'application/json'}}, body: JSON.stringify({{next}})}});
  out.textContent = JSON.stringify(await r.json(), null, 2);
}};
document.getElementById('raw').onsubmit = async (e) => {{
  e.preventDefault(); const f = new FormData(e.target);
  const body = '{{"account":' + JSON.stringify(f.get('account')) + ',"transaction":' + f.get('transaction') + '}}';
  const r = await fetch('/control/transactions', {{method:'POST', headers:{{'content-type':'application/json'}}, body}});
  out.textContent = JSON.stringify(await r.json(), null, 2);
}};
document.getElementById('faults').onsubmit = async (e) => {{
  e.preventDefault(); const b = Object.fromEntries(new FormData(e.target));
  for (const k in b) b[k] = Number(b[k]);
  const r = await fetch('/control/faults', {{method:'POST', headers:{{'content-type':'application/json'}}, body: JSON.stringify(b)}});
  out.textContent = JSON.stringify(await r.json(), null, 2);
}};
</script>"#
    );
    page(StatusCode::OK, "Ovládací panel (Control panel)", &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_payer_account_with_multi_byte_characters_does_not_panic() {
        for acct in [
            "čř-123/0100",
            "ščřž",
            "Ž1234567",
            "1é/0800",
            "CZ6508000000192000145399",
        ] {
            let mut tx = json!({});
            apply_payer_account(&mut tx, acct);
        }
        let mut tx = json!({});
        apply_payer_account(&mut tx, "CZ6508000000192000145399");
        assert_eq!(tx["counterParty"]["iban"], "CZ6508000000192000145399");
    }
}
