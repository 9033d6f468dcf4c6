//! The fee overview: who has paid a schedule's period, with sums, filters, sorting and pages of
//! [`PAGE_SIZE`] members (a period is computed once per payment stamp and kept in a [`Cache`]);
//! and the dashboard's "expected this month vs received so far". Read-only; amounts in minor
//! units of CZK, dates are Prague dates.

use std::collections::HashMap;
use std::sync::Arc;
use time::Date;
use uuid::Uuid;

use crate::db::tenant::{Tenant, TenantTx};
use crate::fee::Schedule;

/// Where a member stands for one charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    /// Nothing paid and past the grace period.
    Owes,
    /// Something paid, not all.
    Partly,
    /// Nothing paid, not yet past the grace period.
    NotYetDue,
    Paid,
    /// Paid, and the member has a credit left for the next charges.
    Overpaid,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Paid,
        Status::Partly,
        Status::Overpaid,
        Status::Owes,
        Status::NotYetDue,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Paid => "paid",
            Status::Partly => "partly",
            Status::Overpaid => "overpaid",
            Status::Owes => "owes",
            Status::NotYetDue => "not_yet_due",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The rule: paid in full → paid (overpaid with a credit left); something paid → partly;
    /// nothing paid → owes after `grace_until`, else not yet due.
    pub fn of(amount: i64, paid: i64, credit: i64, grace_until: Date, today: Date) -> Status {
        if paid >= amount {
            if credit > 0 {
                Status::Overpaid
            } else {
                Status::Paid
            }
        } else if paid > 0 {
            Status::Partly
        } else if today > grace_until {
            Status::Owes
        } else {
            Status::NotYetDue
        }
    }
}

/// How rows are ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Sort {
    #[default]
    Name,
    Vs,
    Status,
    /// Most still owed first.
    Owed,
}

impl Sort {
    pub const ALL: [Sort; 4] = [Sort::Name, Sort::Vs, Sort::Status, Sort::Owed];

    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Name => "name",
            Sort::Vs => "vs",
            Sort::Status => "status",
            Sort::Owed => "owed",
        }
    }

    pub fn parse(s: &str) -> Option<Sort> {
        Sort::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Members shown on one page of the overview.
pub const PAGE_SIZE: usize = 50;

/// The overview's filters and page.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub group: Option<Uuid>,
    pub status: Option<Status>,
    /// Part of the name, a VS (numerically) or an e-mail address.
    pub search: String,
    pub sort: Sort,
    /// The page of [`PAGE_SIZE`] rows, from 1 (0 counts as 1; past the last shows the last).
    pub page: usize,
}

/// One member's charge in the period.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Row {
    pub member_id: Uuid,
    pub name: String,
    pub variable_symbol: String,
    pub amount_minor: i64,
    pub paid_minor: i64,
    /// The member's credit left over from payments (any period).
    pub credit_minor: i64,
    /// Pending incoming payments with the member's VS ("on the way").
    pub on_the_way_minor: i64,
    pub due_on: Date,
    pub grace_until: Date,
    #[sqlx(skip)]
    pub status: Option<Status>,
}

impl Row {
    pub fn status(&self) -> Status {
        self.status.unwrap_or(Status::NotYetDue)
    }

    pub fn owed_minor(&self) -> i64 {
        (self.amount_minor - self.paid_minor).max(0)
    }
}

/// Count and amounts of rows in one status.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusSum {
    pub count: i64,
    pub amount_minor: i64,
    pub paid_minor: i64,
}

/// The overview of one schedule's period: one page of rows, sums over all pages.
#[derive(Debug, Clone)]
pub struct Overview {
    pub schedule: Schedule,
    /// The period shown (first and last day).
    pub period: (Date, Date),
    /// Every charged period of the schedule, newest first.
    pub periods: Vec<(Date, Date)>,
    /// The page's rows (at most [`PAGE_SIZE`]).
    pub rows: Vec<Row>,
    /// Per status (in [`Status::ALL`] order), over the rows matching group and search.
    pub sums: Vec<(Status, StatusSum)>,
    pub expected_minor: i64,
    pub received_minor: i64,
    /// Rows matching all filters, on every page.
    pub matching: usize,
    /// The page shown (from 1) and the number of pages (at least 1).
    pub page: usize,
    pub pages: usize,
}

/// A member's row with what the filters look at.
#[derive(Debug, Clone)]
struct Member {
    row: Row,
    name_lower: String,
    vs_key: String,
    emails: Vec<String>,
    groups: Vec<Uuid>,
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    #[sqlx(flatten)]
    row: Row,
    vs_key: String,
    emails: Vec<String>,
    groups: Vec<Uuid>,
}

/// A schedule's period as computed from the database: every charged member, sorted by name.
#[derive(Debug)]
struct Computed {
    schedule: Schedule,
    period: (Date, Date),
    periods: Vec<(Date, Date)>,
    members: Vec<Member>,
}

/// Computed periods kept in memory, each valid while the club's payment stamp
/// (`payment::stamp`) is the one it was computed at: the stamp moves with every change of what
/// the overview shows (decisions and allocations in code; members, groups, charges, schedules
/// and pending payments through the triggers of tenant migration 0008). The database stays the
/// only source: a stale entry is never served, only recomputed, so several instances may each
/// keep their own. At most [`Cache::ENTRIES`] periods, the least recently used leave first.
///
/// It also keeps each club's [`Facts`] (schedules, groups, queue count) per stamp, so a request
/// for a kept period reads nothing but the stamp.
#[derive(Debug, Default)]
pub struct Cache {
    entries: std::sync::Mutex<HashMap<CacheKey, CacheEntry>>,
    /// One computation at a time per period: requests that miss together wait for the first
    /// one's result instead of each computing it (an open page of every board member reloads
    /// at once when the stamp moves).
    flights: std::sync::Mutex<HashMap<CacheKey, Arc<tokio::sync::Mutex<()>>>>,
    facts: std::sync::Mutex<HashMap<Uuid, (i64, Arc<Facts>)>>,
    tick: std::sync::atomic::AtomicU64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct CacheKey {
    tenant: Uuid,
    schedule: Uuid,
    period: Option<Date>,
    today: Date,
}

#[derive(Debug)]
struct CacheEntry {
    stamp: i64,
    used: u64,
    computed: Arc<Computed>,
}

impl Cache {
    pub const ENTRIES: usize = 256;
    /// Clubs whose [`Facts`] are kept; when full, the table starts again empty.
    pub const CLUBS: usize = 4096;

    /// The lock of `key`'s computation (created on first use, removed by [`Cache::land`]).
    fn flight(&self, key: &CacheKey) -> Option<Arc<tokio::sync::Mutex<()>>> {
        let mut flights = self.flights.lock().ok()?;
        Some(flights.entry(key.clone()).or_default().clone())
    }

    /// Forgets `key`'s computation lock (waiters keep their handle and find the result kept).
    fn land(&self, key: &CacheKey) {
        if let Ok(mut flights) = self.flights.lock() {
            flights.remove(key);
        }
    }

    fn facts(&self, tenant: Uuid, stamp: i64) -> Option<Arc<Facts>> {
        let facts = self.facts.lock().ok()?;
        facts
            .get(&tenant)
            .filter(|(at, _)| *at == stamp)
            .map(|(_, f)| f.clone())
    }

    fn put_facts(&self, tenant: Uuid, stamp: i64, facts: Arc<Facts>) {
        let Ok(mut kept) = self.facts.lock() else {
            return;
        };
        if kept.len() >= Self::CLUBS && !kept.contains_key(&tenant) {
            kept.clear();
        }
        kept.insert(tenant, (stamp, facts));
    }

    fn get(&self, key: &CacheKey, stamp: i64) -> Option<Arc<Computed>> {
        let tick = self.tick.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut entries = self.entries.lock().ok()?;
        let entry = entries.get_mut(key).filter(|e| e.stamp == stamp)?;
        entry.used = tick;
        Some(entry.computed.clone())
    }

    fn put(&self, key: CacheKey, stamp: i64, computed: Arc<Computed>) {
        let used = self.tick.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= Self::ENTRIES && !entries.contains_key(&key) {
            let oldest = entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone());
            if let Some(oldest) = oldest {
                entries.remove(&oldest);
            }
        }
        entries.insert(
            key,
            CacheEntry {
                stamp,
                used,
                computed,
            },
        );
    }
}

/// The schedule's charged periods, newest first: a skip scan over `charges_period_idx`, one
/// index probe a period.
async fn charged_periods(
    tx: &mut TenantTx,
    schedule: Uuid,
) -> Result<Vec<(Date, Date)>, sqlx::Error> {
    sqlx::query_as(
        "WITH RECURSIVE p AS ( \
           (SELECT period_start, period_end FROM charges WHERE schedule_id = $1 \
             ORDER BY period_start DESC LIMIT 1) \
           UNION ALL \
           SELECT n.period_start, n.period_end FROM p, LATERAL ( \
             SELECT period_start, period_end FROM charges \
              WHERE schedule_id = $1 AND period_start < p.period_start \
              ORDER BY period_start DESC LIMIT 1) n) \
         SELECT period_start, period_end FROM p",
    )
    .bind(schedule)
    .fetch_all(&mut **tx)
    .await
}

/// Every charged member of `schedule`'s period `period` (default: the period containing
/// `today`, else the newest charged one), with status, credit and payments on the way.
async fn compute(
    tx: &mut TenantTx,
    schedule: Uuid,
    period: Option<Date>,
    today: Date,
) -> Result<Option<Computed>, sqlx::Error> {
    let Some(detail) = crate::fee::schedule(tx, schedule).await? else {
        return Ok(None);
    };
    let periods = charged_periods(tx, schedule).await?;
    let current = detail.schedule.period().containing(today);
    let period = period
        .and_then(|p| periods.iter().find(|x| x.0 == p).copied())
        .or_else(|| periods.iter().find(|x| x.0 == current.0).copied())
        .or_else(|| periods.first().copied())
        .unwrap_or(current);
    let rows: Vec<MemberRow> = sqlx::query_as(
        // Paid sums and credit come from the columns matching keeps (`charges.paid_minor`,
        // `payment_decisions.left_minor`, by the partial index of remainders), never from the
        // whole allocation history. Both sums are MATERIALIZED: computed once, whatever the
        // planner estimates (right after a first sync, before autovacuum has analysed the new
        // rows, an inlined sum was run again for each of 2 000 members: 6-8 s instead of 60 ms).
        "WITH credit AS MATERIALIZED (SELECT d.target_member AS member_id, sum(d.left_minor)::int8 AS s \
                           FROM payment_decisions d \
                          WHERE d.left_minor > 0 AND d.target_member IS NOT NULL \
                            AND d.outcome IN ('matched', 'partly_paid', 'overpaid') \
                          GROUP BY d.target_member), \
              pending AS MATERIALIZED (SELECT ltrim(btrim(variable_symbol), '0') AS k, \
                                 sum(amount_minor)::int8 AS s FROM transactions \
                           WHERE status = 'pending' AND amount_minor > 0 AND NOT reversal \
                             AND variable_symbol IS NOT NULL GROUP BY 1) \
         SELECT m.id AS member_id, m.name, m.variable_symbol, m.vs_key, m.emails, \
                ARRAY(SELECT l.group_id FROM member_group_links l WHERE l.member_id = m.id) \
                  AS groups, \
                c.amount_minor, c.paid_minor, \
                COALESCE(cr.s, 0) AS credit_minor, \
                COALESCE(w.s, 0) AS on_the_way_minor, c.due_on, c.grace_until \
           FROM charges c JOIN members m ON m.id = c.member_id \
           LEFT JOIN credit cr ON cr.member_id = m.id \
           LEFT JOIN pending w ON w.k = m.vs_key \
          WHERE c.schedule_id = $1 AND c.period_start = $2",
    )
    .bind(schedule)
    .bind(period.0)
    .fetch_all(&mut **tx)
    .await?;
    let mut members: Vec<Member> = rows
        .into_iter()
        .map(|r| {
            let mut row = r.row;
            row.status = Some(Status::of(
                row.amount_minor,
                row.paid_minor,
                row.credit_minor,
                row.grace_until,
                today,
            ));
            Member {
                name_lower: row.name.to_lowercase(),
                row,
                vs_key: r.vs_key,
                emails: r.emails,
                groups: r.groups,
            }
        })
        .collect();
    let key = |m: &Member| crate::i18n::fold(&m.row.name);
    members.sort_by_cached_key(|m| (key(m), m.row.member_id));
    Ok(Some(Computed {
        schedule: detail.schedule,
        period,
        periods,
        members,
    }))
}

/// The period computed at `stamp`, from `cache` or computed now (and kept).
async fn computed(
    tx: &mut TenantTx,
    cache: &Cache,
    stamp: i64,
    schedule: Uuid,
    period: Option<Date>,
    today: Date,
) -> Result<Option<Arc<Computed>>, sqlx::Error> {
    let key = CacheKey {
        tenant: tx.tenant_id(),
        schedule,
        period,
        today,
    };
    if let Some(computed) = cache.get(&key, stamp) {
        return Ok(Some(computed));
    }
    let flight = cache.flight(&key);
    let _turn = match &flight {
        Some(flight) => Some(flight.lock().await),
        None => None,
    };
    // Whoever computed while this request waited has left the result.
    if let Some(computed) = cache.get(&key, stamp) {
        return Ok(Some(computed));
    }
    let computed = match compute(tx, schedule, period, today).await {
        Ok(Some(computed)) => Arc::new(computed),
        other => {
            cache.land(&key);
            return other.map(|_| None);
        }
    };
    cache.put(key.clone(), stamp, computed.clone());
    cache.land(&key);
    Ok(Some(computed))
}

/// Every charged member of a schedule's period, sorted by name, each with the ids of their
/// groups: the whole computation that [`overview`] filters and pages (same cache, same
/// statuses), for the board report.
#[derive(Debug, Clone)]
pub struct PeriodRows {
    pub schedule: Schedule,
    /// The period (first and last day).
    pub period: (Date, Date),
    /// Every charged period of the schedule, newest first.
    pub periods: Vec<(Date, Date)>,
    /// Each member's row (status set) with the member's group ids.
    pub rows: Vec<(Row, Vec<Uuid>)>,
}

/// The rows of `schedule`'s period starting `period` (default as in [`overview`]); `None` when
/// the schedule does not exist.
pub async fn period_rows(
    tx: &mut TenantTx,
    cache: &Cache,
    stamp: i64,
    schedule: Uuid,
    period: Option<Date>,
    today: Date,
) -> Result<Option<PeriodRows>, sqlx::Error> {
    let Some(computed) = computed(tx, cache, stamp, schedule, period, today).await? else {
        return Ok(None);
    };
    Ok(Some(PeriodRows {
        schedule: computed.schedule.clone(),
        period: computed.period,
        periods: computed.periods.clone(),
        rows: computed
            .members
            .iter()
            .map(|m| (m.row.clone(), m.groups.clone()))
            .collect(),
    }))
}

/// The overview of `schedule`'s period starting `period` (default: the period containing
/// `today`, else the newest charged one), filtered, sorted and cut to the filter's page. `None`
/// when the schedule does not exist. `stamp` is the club's payment stamp read in `tx`
/// (`payment::stamp`): the period is computed once per stamp and kept in `cache`.
pub async fn overview(
    tx: &mut TenantTx,
    cache: &Cache,
    stamp: i64,
    schedule: Uuid,
    period: Option<Date>,
    filter: &Filter,
    today: Date,
) -> Result<Option<Overview>, sqlx::Error> {
    let Some(computed) = computed(tx, cache, stamp, schedule, period, today).await? else {
        return Ok(None);
    };
    Ok(Some(cut(&computed, filter)))
}

/// The kept period `computed` filtered, summed, sorted and cut to the filter's page.
fn cut(computed: &Computed, filter: &Filter) -> Overview {
    let search = filter.search.trim().to_lowercase();
    let search_vs = crate::payment::matching::vs_key(&search).unwrap_or_default();
    let found: Vec<&Member> = computed
        .members
        .iter()
        .filter(|m| filter.group.is_none_or(|g| m.groups.contains(&g)))
        .filter(|m| {
            search.is_empty()
                || m.name_lower.contains(&search)
                || m.vs_key == search_vs
                || m.emails.contains(&search)
        })
        .collect();
    let mut sums: Vec<(Status, StatusSum)> = Status::ALL
        .iter()
        .map(|s| (*s, StatusSum::default()))
        .collect();
    for m in &found {
        if let Some((_, sum)) = sums.iter_mut().find(|(s, _)| *s == m.row.status()) {
            sum.count += 1;
            sum.amount_minor += m.row.amount_minor;
            sum.paid_minor += m.row.paid_minor;
        }
    }
    let expected_minor = found.iter().map(|m| m.row.amount_minor).sum();
    let received_minor = found
        .iter()
        .map(|m| m.row.paid_minor.min(m.row.amount_minor))
        .sum();
    let mut rows: Vec<&Member> = found
        .into_iter()
        .filter(|m| filter.status.is_none_or(|s| m.row.status() == s))
        .collect();
    // The computed rows are by name already (a stable sort keeps that order among equals).
    let key = |m: &Member| crate::i18n::fold(&m.row.name);
    match filter.sort {
        Sort::Name => {}
        Sort::Vs => rows.sort_by_key(|m| {
            let vs = m.row.variable_symbol.trim_start_matches('0');
            (vs.len(), vs.to_owned())
        }),
        Sort::Status => rows.sort_by_cached_key(|m| (m.row.status(), key(m))),
        Sort::Owed => rows.sort_by_cached_key(|m| (std::cmp::Reverse(m.row.owed_minor()), key(m))),
    }
    let matching = rows.len();
    let pages = matching.div_ceil(PAGE_SIZE).max(1);
    let page = filter.page.clamp(1, pages);
    let rows = rows
        .into_iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE)
        .map(|m| m.row.clone())
        .collect();
    Overview {
        schedule: computed.schedule.clone(),
        period: computed.period,
        periods: computed.periods.clone(),
        rows,
        sums,
        expected_minor,
        received_minor,
        matching,
        page,
        pages,
    }
}

/// What the fee overview page shows around the table, valid for one payment stamp: the
/// schedules (active first, by name), the member groups `(id, name)` and the queue count. Every
/// change of them moves the stamp: schedules and group links through the triggers of tenant
/// migration 0008, decisions in code; a group is only ever created together with its first
/// link, and renaming or deleting one has its own trigger.
#[derive(Debug)]
pub struct Facts {
    pub schedules: Vec<Schedule>,
    pub groups: Vec<(Uuid, String)>,
    /// Payments waiting in the queue (ambiguous or unidentified).
    pub queued: i64,
}

/// What the overview page asks for: a schedule (default: the first), a period start (default:
/// the current period) and the filters.
#[derive(Debug, Clone, Default)]
pub struct PageRequest {
    pub schedule: Option<Uuid>,
    pub period: Option<Date>,
    pub filter: Filter,
}

/// Everything the fee overview page shows.
#[derive(Debug)]
pub struct Page {
    /// The club's payment stamp the page was read at (the open page polls for a newer one).
    pub stamp: i64,
    pub facts: Arc<Facts>,
    /// `None` when the club has no schedule yet.
    pub overview: Option<Overview>,
}

/// The fee overview page of `tenant` for `request` on `today` (a Prague date), at `stamp`: the
/// club's payment stamp ([`crate::payment::current_stamp`]) read by the caller before. A request
/// whose facts and period `cache` keeps for that stamp reads nothing. Otherwise the missing parts
/// are read in a tenant transaction: read after the stamp, they are at least as new as it, and
/// any later change moves the stamp again.
pub async fn page(
    pool: &sqlx::PgPool,
    tenant: &Tenant,
    cache: &Cache,
    request: &PageRequest,
    stamp: i64,
    today: Date,
) -> Result<Page, sqlx::Error> {
    let kept = cache.facts(tenant.id(), stamp).and_then(|facts| {
        let chosen = chosen_schedule(&facts, request)?;
        let key = CacheKey {
            tenant: tenant.id(),
            schedule: chosen,
            period: request.period,
            today,
        };
        let computed = cache.get(&key, stamp)?;
        Some((facts, computed))
    });
    if let Some((facts, computed)) = kept {
        let overview = Some(cut(&computed, &request.filter));
        return Ok(Page {
            stamp,
            facts,
            overview,
        });
    }
    let mut tx = TenantTx::begin(pool, tenant).await?;
    let facts = match cache.facts(tenant.id(), stamp) {
        Some(facts) => facts,
        None => {
            let facts = Arc::new(Facts {
                schedules: crate::fee::schedules(&mut tx).await?,
                groups: crate::fee::groups(&mut tx).await?,
                queued: crate::payment::views::queue_count(&mut tx).await?,
            });
            cache.put_facts(tenant.id(), stamp, facts.clone());
            facts
        }
    };
    let overview = match chosen_schedule(&facts, request) {
        Some(id) => {
            overview(
                &mut tx,
                cache,
                stamp,
                id,
                request.period,
                &request.filter,
                today,
            )
            .await?
        }
        None => None,
    };
    tx.commit().await?;
    Ok(Page {
        stamp,
        facts,
        overview,
    })
}

/// The schedule asked for if it exists, else the first one.
fn chosen_schedule(facts: &Facts, request: &PageRequest) -> Option<Uuid> {
    request
        .schedule
        .filter(|id| facts.schedules.iter().any(|s| s.id == *id))
        .or_else(|| facts.schedules.first().map(|s| s.id))
}

/// "Expected this month vs received so far", for the month of `today` (a Prague date), in
/// minor units:
/// - expected: Σ of the charges due this month;
/// - received: Σ of the identified fee payments (matched, partly paid or overpaid, by the
///   engine or a person; tracked payments only) booked from the 1st of the month to today,
///   whatever charges they settle: money that came in for fees this month.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MonthSummary {
    pub expected_minor: i64,
    pub received_minor: i64,
    /// Payments waiting in the queue (ambiguous or unidentified), as the payments page counts.
    pub queued: i64,
}

pub async fn month_summary(tx: &mut TenantTx, today: Date) -> Result<MonthSummary, sqlx::Error> {
    let (start, end) = crate::fee::Period::Month.containing(today);
    let (expected,): (Option<i64>,) = sqlx::query_as(
        "SELECT sum(c.amount_minor)::int8 FROM charges c WHERE c.due_on BETWEEN $1 AND $2",
    )
    .bind(start)
    .bind(end)
    .fetch_one(&mut **tx)
    .await?;
    let (received,): (Option<i64>,) = sqlx::query_as(
        "SELECT sum(t.amount_minor)::int8 FROM transactions t \
           JOIN payment_decisions d ON d.transaction_id = t.id \
          WHERE d.outcome IN ('matched', 'partly_paid', 'overpaid') \
            AND t.status = 'booked' AND t.amount_minor > 0 AND NOT t.reversal \
            AND COALESCE(t.booking_date, t.value_date) BETWEEN $1 AND $2",
    )
    .bind(start)
    .bind(today)
    .fetch_one(&mut **tx)
    .await?;
    let queued = crate::payment::views::queue_count(tx).await?;
    Ok(MonthSummary {
        expected_minor: expected.unwrap_or(0),
        received_minor: received.unwrap_or(0),
        queued,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn status_of_a_charge() {
        let grace = date!(2026 - 01 - 25);
        let before = date!(2026 - 01 - 20);
        let after = date!(2026 - 01 - 26);
        let cases = [
            (1000, 1000, 0, before, Status::Paid),
            (1000, 1000, 500, after, Status::Overpaid),
            (1000, 400, 0, after, Status::Partly),
            (1000, 0, 0, after, Status::Owes),
            (1000, 0, 0, before, Status::NotYetDue),
            (1000, 0, 0, grace, Status::NotYetDue),
        ];
        for (amount, paid, credit, today, status) in cases {
            assert_eq!(
                Status::of(amount, paid, credit, grace, today),
                status,
                "{amount} {paid} {credit} {today}"
            );
        }
    }
}
