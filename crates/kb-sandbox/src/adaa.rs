//! ADAA runtime API: accounts (only those the KB user chose), balances, transactions (paged,
//! oldest first, v1/v2 limits, 2-year limit, 90-day default, 10-s next-page window, 61-minute
//! unchanged-data 429), statements (list + PDF) — spec §7. Event subscriptions live in
//! `events`.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::collections::HashMap;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, Time};

use super::bank;
use super::calendar::{prague_date, prague_day_start};
use super::config::ClosedBalanceStamp;
use super::context::{Ctx, PagingSession};
use super::events;
use super::gateway::{AdaaGate, adaa_error, adaa_param_error, authorise_account, with_account};
use super::ledger::{self, tx_date};
use super::pdf;
use super::state::AccountRecord;

/// ADAA routes relative to `/adaa/v{version}`.
pub fn routes(version: u8) -> Router<Ctx> {
    let mut r = Router::new()
        .route("/accounts", get(accounts))
        .route("/accounts/{account_id}/balances", get(balances))
        .route("/accounts/{account_id}/transactions", get(transactions))
        .route("/accounts/{account_id}/statements", get(statements))
        .route(
            "/accounts/{account_id}/statements/{statement_id}",
            get(statement_pdf),
        )
        .route(
            "/accounts/{account_id}/transactions/event-subscriptions",
            post(events::create),
        )
        .route(
            "/accounts/{account_id}/transactions/event-subscriptions/{subscription_id}",
            get(events::read).delete(events::delete),
        );
    if version == 1 {
        r = r.route(
            "/is-alive",
            get(|| async { Json(json!({ "name": "ADAA", "version": "1.0" })) }),
        );
    }
    r
}

fn ymd(d: Date) -> String {
    d.format(format_description!("[year]-[month]-[day]"))
        .unwrap_or_default()
}

fn money(minor: i64) -> f64 {
    minor as f64 / 100.0
}

fn ts_ms(t: OffsetDateTime) -> String {
    t.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    ))
    .unwrap_or_default()
}

async fn accounts(State(ctx): State<Ctx>, AdaaGate { token, route }: AdaaGate) -> Response {
    let ids = bank::granted(&ctx, &token);
    let st = ctx.store.read();
    let list: Vec<Value> = ids
        .iter()
        .filter_map(|id| st.account(id))
        .map(|a| {
            let mut v =
                json!({ "accountId": a.account_id, "iban": a.iban, "currency": a.currency });
            if route.version >= 2 {
                v["nameI18N"] = json!(a.name);
                v["productI18N"] = json!("Běžný účet/Current account");
            }
            v
        })
        .collect();
    if list.is_empty() {
        return adaa_error(
            StatusCode::FORBIDDEN,
            None,
            "Client has no access to any accounts or accounts are in blacklist",
        );
    }
    Json(list).into_response()
}

async fn balances(
    State(ctx): State<Ctx>,
    Path(account_id): Path<String>,
    AdaaGate { token, .. }: AdaaGate,
) -> Response {
    let now = ctx.now();
    // "Previously closed" = everything booked before today's Prague business day.
    let today = ledger::date_key(&ymd(prague_date(now)));
    // Over what the API shows now: a card hold counts until its booked row replaces it.
    let sums = with_account(&ctx, &token, &account_id, |acc| {
        let order = ctx.view_order(acc, now);
        let rows = || order.iter().map(|i| acc.transactions[*i].as_ref());
        // Cancelled and rejected rows never moved money.
        let available: i64 = acc.opening_balance_minor
            + rows()
                .filter(|r| !r.void)
                .map(|r| r.amount_minor)
                .sum::<i64>();
        let closed: i64 = acc.opening_balance_minor
            + rows()
                .filter(|r| r.booked && r.date < today)
                .map(|r| r.amount_minor)
                .sum::<i64>();
        (acc.currency.clone(), available, closed)
    });
    let (currency, available, closed) = match sums {
        Ok(sums) => sums,
        Err(r) => return r,
    };
    let cdi = |m: i64| if m < 0 { "DEBIT" } else { "CREDIT" };
    // When the closed balance is stamped: KB's examples show the request time [I].
    let closed_at = match ctx.cfg.behaviour.closed_balance_valid_at {
        ClosedBalanceStamp::RequestTime => now,
        ClosedBalanceStamp::DayStart => prague_day_start(prague_date(now)),
    };
    let entry = |kind: &str, m: i64, at: OffsetDateTime| {
        json!({
            "type": kind, "creditDebitIndicator": cdi(m),
            "amount": { "value": money(m.abs()), "currency": currency },
            "validAt": ts_ms(at), "creditLine": { "value": 0.0, "currency": currency },
        })
    };
    Json(json!([
        entry("CLOSING_AVAILABLE", available, now),
        entry("PREVIOUSLY_CLOSED_BOOK", closed, closed_at)
    ]))
    .into_response()
}

fn parse_date(s: &str) -> Option<Date> {
    Date::parse(s, format_description!("[year]-[month]-[day]")).ok()
}

fn parse_dt(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// Output shape per version and the pending literal.
fn present(ctx: &Ctx, version: u8, tx: &Value) -> Value {
    let mut t = tx.clone();
    // Pending rows carry the configured literal; other statuses (SCHD, CNCL, RJCT, ...) stay.
    if t.get("status")
        .and_then(Value::as_str)
        .is_some_and(|s| s == "PDNG" || s == "PNG")
    {
        t["status"] = json!(ctx.cfg.behaviour.pending_status_literal);
    }
    // [I] KB's reversal convention: rows are kept with their own direction; served with the
    // original's direction when configured.
    if ctx.cfg.behaviour.reversal_original_direction
        && t.get("reversalIndicator").and_then(Value::as_bool) == Some(true)
    {
        let flipped = match t.get("creditDebitIndicator").and_then(Value::as_str) {
            Some("CREDIT") => Some("DEBIT"),
            Some("DEBIT") => Some("CREDIT"),
            _ => None,
        };
        if let Some(direction) = flipped {
            t["creditDebitIndicator"] = json!(direction);
        }
    }
    if version == 1
        && let Some(refs) = t.get_mut("references").and_then(Value::as_object_mut)
    {
        refs.remove("myDescription");
    }
    t
}

async fn transactions(
    State(ctx): State<Ctx>,
    Path(account_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    AdaaGate { token, route }: AdaaGate,
) -> Response {
    if let Err(r) = authorise_account(&ctx, &token, &account_id) {
        return r;
    }
    let b = ctx.cfg.behaviour.clone();
    let bad = |p: &str, msg: &str| {
        adaa_param_error(
            StatusCode::BAD_REQUEST,
            Some("INVALID_PARAMETER"),
            msg,
            p,
            q.get(p).map(String::as_str).unwrap_or(""),
        )
    };
    let Some(page) = q.get("page").and_then(|p| p.parse::<u32>().ok()) else {
        return bad(
            "page",
            "Required int parameter 'page' is not present or invalid",
        );
    };
    let (max, default) = if route.version >= 2 {
        (b.v2_max_page_size, b.v2_max_page_size)
    } else {
        (b.v1_max_page_size, b.v1_default_page_size)
    };
    let size = match q.get("size") {
        None => default,
        Some(s) => match s.parse::<u32>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => return bad("size", &format!("size must be between 1 and {max}")),
        },
    };
    let now = ctx.now();
    let from = if let (true, Some(s)) = (route.version >= 2, q.get("fromDateTime")) {
        match parse_dt(s) {
            Some(d) => d,
            None => {
                return bad(
                    "fromDateTime",
                    "fromDateTime must be yyyy-mm-ddThh:mm:ss.msZ",
                );
            }
        }
    } else if let Some(s) = q.get("fromDate") {
        match parse_date(s) {
            Some(d) => d.midnight().assume_utc(),
            None => return bad("fromDate", "fromDate must be YYYY-MM-DD"),
        }
    } else {
        now - time::Duration::days(b.default_window_days)
    };
    let to = if let (true, Some(s)) = (route.version >= 2, q.get("toDateTime")) {
        match parse_dt(s) {
            Some(d) => d,
            None => return bad("toDateTime", "toDateTime must be yyyy-mm-ddThh:mm:ss.msZ"),
        }
    } else if let Some(s) = q.get("toDate") {
        match parse_date(s) {
            Some(d) => d.with_time(Time::MAX).assume_utc(),
            None => return bad("toDate", "toDate must be YYYY-MM-DD"),
        }
    } else {
        now
    };
    if from > to {
        return adaa_error(
            StatusCode::BAD_REQUEST,
            Some("INVALID_PARAMETER"),
            "fromDate must not be after toDate",
        );
    }
    if from.date() < (now - time::Duration::days(b.history_limit_days)).date() {
        return adaa_param_error(
            StatusCode::BAD_REQUEST,
            Some("INVALID_PARAMETER"),
            "Transaction history is available for the last 2 years only",
            "fromDate",
            &ymd(from.date()),
        );
    }
    let key = format!(
        "{}|{}|{}|{}|{}",
        token.client_id,
        account_id,
        from.unix_timestamp(),
        to.unix_timestamp(),
        size
    );
    let mark_key = format!("{}|{}", token.client_id, account_id);

    if page > 0 {
        let session = ctx.runtime().paging.get(&key).cloned();
        let ok = session.is_some_and(|s| {
            (s.last_page + 1 == page || s.last_page == page)
                && b.next_page_window.is_none_or(|w| now - s.at <= w)
        });
        if !ok {
            return adaa_param_error(
                StatusCode::BAD_REQUEST,
                Some("PAGE_TIME_LIMIT_EXCEEDED"),
                "Time limit to start download of the next page (10 s) exceeded; start again with page 0",
                "page",
                &page.to_string(),
            );
        }
        let shift = {
            let mut f = ctx.faults();
            if f.shift_next_pages > 0 {
                f.shift_next_pages -= 1;
                true
            } else {
                false
            }
        };
        if shift {
            insert_backdated(&ctx, &account_id, from);
        }
    } else if let Some(limit) = b.unchanged_data_limit {
        let version = ctx
            .store
            .read()
            .account(&account_id)
            .map(|a| a.version)
            .unwrap_or(0);
        let mark = ctx.store.read().downloads.get(&mark_key).cloned();
        if let Some(m) = mark
            && m.version == version
            && now - m.at < limit
        {
            return adaa_error(
                StatusCode::TOO_MANY_REQUESTS,
                Some("TOO_MANY_REQUESTS"),
                "Unchanged data download limit reached. Use publish-subscribe pattern (event subscriptions) to be notified about changes.",
            );
        }
        ctx.store.update(|s| {
            s.downloads.insert(
                mark_key.clone(),
                super::state::DownloadMark { at: now, version },
            );
        });
    }

    // The instants select Prague business days (bookingDate/valueDate are Prague dates).
    let (from_d, to_d) = (ymd(prague_date(from)), ymd(prague_date(to)));
    // The view is cached; a page costs a binary search plus its own rows.
    let listed = with_account(&ctx, &token, &account_id, |a| {
        let order = ctx.view_order(a, now);
        let window = ledger::date_range(&a.transactions, &order, &from_d, &to_d);
        let total = u32::try_from(window.len()).unwrap_or(u32::MAX);
        let start = (page.saturating_mul(size)).min(total) as usize;
        let end = (start + size as usize).min(window.len());
        let content: Vec<Value> = window[start..end]
            .iter()
            .map(|i| present(&ctx, route.version, &a.transactions[*i]))
            .collect();
        (total, content)
    });
    let (total, content) = match listed {
        Ok(listed) => listed,
        Err(r) => return r,
    };
    let total_pages = total.div_ceil(size);
    ctx.runtime().paging.insert(
        key,
        PagingSession {
            last_page: page,
            at: now,
        },
    );
    let n = content.len();
    Json(json!({
        "content": content,
        "totalPages": total_pages,
        "pageNumber": page,
        "pageSize": size,
        "numberOfElements": n,
        "first": page == 0,
        "last": page + 1 >= total_pages,
        "empty": n == 0,
    }))
    .into_response()
}

/// Fault "page shifts during paging": books a back-dated transaction at the window start.
fn insert_backdated(ctx: &Ctx, account_id: &str, from: OffsetDateTime) {
    let seed = ctx.store.read().payment_counter;
    let at = from.max(ctx.now() - time::Duration::days(ctx.cfg.behaviour.default_window_days))
        + time::Duration::hours(1);
    let texts = (
        Some("999"),
        Some("Dodatečně zaúčtováno"),
        Some("Pozdní Plátce"),
    );
    let Some(tx) = bank::new_payment(
        ctx,
        account_id,
        seed.wrapping_mul(7919).wrapping_add(17),
        12_300,
        texts,
        at,
    ) else {
        return;
    };
    bank::book(ctx, account_id, tx);
}

/// Monthly statements derived from the ledger.
pub fn statement_list(acc: &AccountRecord, today: Date) -> Vec<(Date, u32, i64, Date, Date)> {
    let Some(first) = acc
        .transactions
        .first()
        .and_then(|t| parse_date(tx_date(t)))
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut month_start = first.replace_day(1).unwrap_or(first);
    loop {
        let next = month_start
            .checked_add(time::Duration::days(32))
            .and_then(|d| d.replace_day(1).ok());
        let Some(next) = next else { break };
        if next > today {
            break;
        }
        let id_src = format!("{}{}", acc.account_id, ymd(month_start));
        let id = (id_src.bytes().fold(1_469_598_103_934_665_603u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(1_099_511_628_211)
        }) % 900_000_000
            + 100_000_000) as i64;
        out.push((
            next,
            u32::from(u8::from(month_start.month())),
            id,
            month_start,
            next.previous_day().unwrap_or(next),
        ));
        month_start = next;
    }
    out
}

async fn statements(
    State(ctx): State<Ctx>,
    Path(account_id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    AdaaGate { token, .. }: AdaaGate,
) -> Response {
    let today = ctx.now().date();
    let all = match with_account(&ctx, &token, &account_id, |acc| statement_list(acc, today)) {
        Ok(all) => all,
        Err(r) => return r,
    };
    let Some(from) = q
        .get("dateFrom")
        .and_then(|s| parse_dt(s).map(|d| d.date()).or_else(|| parse_date(s)))
    else {
        return adaa_param_error(
            StatusCode::BAD_REQUEST,
            None,
            "Required parameter 'dateFrom' is not present or invalid",
            "dateFrom",
            q.get("dateFrom").map(String::as_str).unwrap_or(""),
        );
    };
    let year_ago = today - time::Duration::days(365);
    let list: Vec<Value> = all
        .into_iter()
        .filter(|(issued, ..)| *issued >= from)
        .map(|(issued, seq, id, ..)| json!({ "issued": ymd(issued), "sequenceNumber": seq, "pagesCount": 1, "statementId": id, "archive": issued < year_ago }))
        .collect();
    Json(list).into_response()
}

async fn statement_pdf(
    State(ctx): State<Ctx>,
    Path((account_id, statement_id)): Path<(String, String)>,
    AdaaGate { token, .. }: AdaaGate,
) -> Response {
    let wanted: i64 = statement_id.parse().unwrap_or(-1);
    let now = ctx.now();
    let rendered = with_account(&ctx, &token, &account_id, |acc| {
        let (issued, seq, _, start, end) = statement_list(acc, now.date())
            .into_iter()
            .find(|s| s.2 == wanted)?;
        let (s, e) = (ymd(start), ymd(end));
        let order = ctx.view_order(acc, now);
        let lines: Vec<String> = ledger::date_range(&acc.transactions, &order, &s, &e)
            .iter()
            .map(|i| acc.transactions[*i].as_ref())
            .filter(|t| t.booked)
            .map(|t| {
                format!(
                    "{}  {:>12.2} {}  VS {}  {}",
                    tx_date(t),
                    money(t.amount_minor),
                    acc.currency,
                    t.pointer("/references/variable")
                        .and_then(Value::as_str)
                        .unwrap_or("-"),
                    t.pointer("/counterParty/name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                )
            })
            .collect();
        let title = format!(
            "Vypis z uctu {} c. {} ({} - {}), vystaveno {}",
            acc.iban,
            seq,
            s,
            e,
            ymd(issued)
        );
        Some((title, lines))
    });
    let (title, lines) = match rendered {
        Ok(Some(found)) => found,
        Ok(None) => return adaa_error(StatusCode::NOT_FOUND, None, "Statement not found"),
        Err(r) => return r,
    };
    let bytes = pdf::statement(&title, &lines);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/pdf")],
        bytes,
    )
        .into_response()
}
