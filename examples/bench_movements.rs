//! Account-page benchmark (issue 10): a club whose account holds `rows` movements (default
//! 100 000), its account page requested over HTTP by 16 signed-in sessions at once for each
//! kind of listing (the first page, a text search, an amount range, a date range, a
//! combination, a page deep in the history), `seconds` each (default 10): requests/s,
//! p50/p99/max. Every request is the whole page: session, membership check, both balances,
//! the filtered page of 50, the count of what the filter selects, rendering.
//!
//! Run: `cargo run --release --example bench_movements -- [rows] [seconds]`. Uses a private
//! PostgreSQL cluster (default settings, fsync on); the movements are inserted by one
//! `INSERT … SELECT generate_series` with Czech names, messages, symbols, amounts both ways and
//! dates over two years (the benchmark measures the listing, not the sync), then vacuumed and
//! analysed as autovacuum would after a bulk insert.

#[path = "common/mod.rs"]
mod common;

use common::{Club, load, ms, percentile};
use kasa::db::tenant::TenantTx;
use std::time::{Duration, Instant};

/// Concurrent connections (signed-in sessions) of each load run.
const CONNECTIONS: usize = 16;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let rows: i64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let seconds: u64 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10);
    let dir = std::env::temp_dir().join(format!("kasa-bench-pg-{}", std::process::id()));
    let cluster = common::cluster(&dir).await?;
    let kb = kasa::app::KbConnection {
        settings: kasa::bank::KbSettings::production(Default::default(), None),
        sandbox: None,
    };
    let (pool, base, _state) = common::serve(&cluster, &kb, |c| c.run_sync_worker = false).await?;
    let club = Club::sign_up(&pool, &base).await?;
    let tenant = club.tenant(&pool).await?;

    let now = time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_600);
    let started = Instant::now();
    let fill = "INSERT INTO transactions (account_id, bank_key, status, amount_minor, currency, \
            booking_date, value_date, counterparty_name, counterparty_account, \
            counterparty_bank_code, variable_symbol, constant_symbol, message, transaction_type, \
            last_updated, first_seen_at) \
         SELECT $1, 'as:' || n, 'booked', \
                CASE WHEN n % 3 = 0 THEN -1 ELSE 1 END * ((n * 7919) % 500000 + 100), 'CZK', \
                DATE '2025-01-01' + (n % 729)::int, DATE '2025-01-01' + (n % 729)::int, \
                (ARRAY['Jana','Petr','Eva','Jiří','Lucie','Tomáš','Anna','Martin','Tereza','Jan', \
                       'Klára','Pavel','Marie','David','Veronika','Jakub','Barbora','Lukáš','Hana','Ondřej'])[n % 20 + 1] \
                || ' ' || \
                (ARRAY['Nováková','Svoboda','Novotný','Dvořák','Černá','Procházka','Kučerová','Veselý', \
                       'Horáková','Němec','Marková','Pokorný','Pospíšilová','Hájek','Jelínková','Král', \
                       'Růžičková','Beneš','Fialová','Sedláček','Doležalová','Zeman','Kolářová','Navrátil', \
                       'Čermáková','Vaněk','Urbanová','Blažek','Křížová','Kovář','Kratochvílová','Bartoš', \
                       'Vlčková','Polák','Musilová','Kopecký','Šimková','Konečný','Malá','Holub', \
                       'Staňková','Štěpánek','Dostálová','Hořejší','Kadlecová','Pešek','Šťastná','Vávra', \
                       'Matoušková','Řezníček'])[n % 50 + 1], \
                lpad((n % 100000)::text, 6, '0') || lpad((n * 31 % 1000000000)::text, 10, '0'), \
                (ARRAY['0800','0100','0300','2010','3030','0600','6210','5500'])[n % 8 + 1], \
                (2025000 + n % 3000)::text, CASE WHEN n % 10 = 0 THEN '0308' END, \
                (ARRAY['Příspěvek za člena','Oddílový příspěvek','Soustředění léto','Dresy a výstroj', \
                       'Pronájem haly','Startovné turnaj','Členský poplatek'])[n % 7 + 1] || ' ' || n, \
                CASE WHEN n % 3 = 0 THEN 'CARD' ELSE 'DOMESTIC' END, $2, $2 \
           FROM generate_series(1, $3) n";
    let account = common::bench_account(&pool, &tenant, now, rows, fill).await?;
    sqlx::query(&format!("VACUUM ANALYZE {}", tenant.table("transactions")))
        .execute(&pool)
        .await?;
    println!(
        "{rows} movements inserted, vacuumed and analysed in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut sessions = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        sessions.push(club.another_session().await?);
    }
    let page = format!("{base}{}/accounts/{account}", club.dashboard);
    // A position in the middle of the history (the page a person reaches after ~1 000 "older").
    let middle = "2025-12-31.50000";
    let runs = [
        ("first page, no filter", String::new()),
        (
            "text search \"nováková\" (1 in 50 rows)",
            "?q=novakova".to_owned(),
        ),
        (
            "text search \"soustředění 4711\" (a few rows)",
            "?q=soust%C5%99ed%C4%9Bn%C3%AD+4711".to_owned(),
        ),
        (
            "amount range 1 000–1 200 Kč",
            "?amount_min=1000&amount_max=1200".to_owned(),
        ),
        ("exact amount 80,19 Kč", "?amount=80%2C19".to_owned()),
        (
            "date range one month",
            "?from=1.3.2026&to=31.3.2026".to_owned(),
        ),
        ("symbol 2025123 (VS)", "?symbol=2025123".to_owned()),
        (
            "combined: text + incoming + date range + amount from",
            "?q=prispevek&direction=in&from=1.1.2026&to=30.6.2026&amount_min=500".to_owned(),
        ),
        ("sorted by amount", "?sort=amount".to_owned()),
        (
            "a page deep in the history (keyset)",
            format!("?after={middle}"),
        ),
    ];
    // The domain call alone (one tenant transaction: the filtered page and its count), one
    // connection, one after another: what a request costs the database without the contention
    // of 16 at once on a shared machine.
    println!(
        "| listing, domain call, 1 connection | counted p50 | p99 | count kept p50 | p99 |\n|---|---|---|---|---|"
    );
    for (what, query) in &runs {
        let mut form = kasa::sync::movements::FilterForm::default();
        for (k, v) in url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes()) {
            let v = v.into_owned();
            match k.as_ref() {
                "q" => form.q = v,
                "symbol" => form.symbol = v,
                "amount" => form.amount = v,
                "amount_min" => form.amount_min = v,
                "amount_max" => form.amount_max = v,
                "direction" => form.direction = v,
                "from" => form.from = v,
                "to" => form.to = v,
                "sort" => form.sort = v,
                "after" => form.after = v,
                _ => anyhow::bail!("{k}"),
            }
        }
        let filter = form
            .parse()
            .map_err(|p| anyhow::anyhow!("{query}: {p:?}"))?;
        // As the account page calls it (the account's count of movements given). Counted: a
        // write to the account's movements (as a sync makes) before each call, so the filter is
        // counted again; kept: the same call again (paging, reloads), the count kept.
        let mut counted = Vec::new();
        let mut kept = Vec::new();
        for i in 0..130 {
            if i < 30 {
                let mut tx = TenantTx::begin(&pool, &tenant).await?;
                sqlx::query(
                    "UPDATE bank_accounts SET movement_writes = movement_writes + 1 WHERE id = $1",
                )
                .bind(account)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
            }
            let t = Instant::now();
            let mut tx = TenantTx::begin(&pool, &tenant).await?;
            let page = kasa::sync::movements::page(&mut tx, account, &filter, Some(rows)).await?;
            tx.commit().await?;
            anyhow::ensure!(!page.movements.is_empty(), "{query}: nothing listed");
            if i < 30 { &mut counted } else { &mut kept }.push(t.elapsed());
        }
        counted.sort();
        kept.sort();
        println!(
            "| {what} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |",
            ms(percentile(&counted, 0.5)),
            ms(percentile(&counted, 0.99)),
            ms(percentile(&kept, 0.5)),
            ms(percentile(&kept, 0.99)),
        );
    }
    // Warm-up: every query once.
    for (_, query) in &runs {
        let response = sessions[0].get(format!("{page}{query}")).send().await?;
        anyhow::ensure!(
            response.status().is_success(),
            "{query}: {}",
            response.status()
        );
        response.bytes().await?;
    }
    println!("| listing | requests/s | p50 | p99 | max |\n|---|---|---|---|---|");
    for (what, query) in &runs {
        let (rate, samples) = load(
            &sessions,
            &format!("{page}{query}"),
            Duration::from_secs(seconds),
        )
        .await?;
        println!(
            "| {what} | {rate:.0} | {:.1} ms | {:.1} ms | {:.1} ms |",
            ms(percentile(&samples, 0.5)),
            ms(percentile(&samples, 0.99)),
            samples.last().map_or(0.0, |d| ms(*d)),
        );
    }
    drop(cluster);
    Ok(())
}
