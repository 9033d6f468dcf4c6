//! Where an account stands (issue 10, item 9): both of KB's balances with what they mean and as
//! of when, and what was booked since the booked balance, so the numbers on the page add up.
//!
//! KB's booked balance (`PREVIOUSLY_CLOSED_BOOK`) valid on Prague day D is the balance after
//! everything booked *before* D (the same reading as the reconciliation in `sync::ledger`): it
//! does not move during the day. The movements booked on D or later (Σ `booked_since_minor`)
//! added to it give the booked balance now. The available balance (`CLOSING_AVAILABLE`) is
//! KB's current figure, card holds and pending payments included.

use crate::db::tenant::TenantTx;
use time::{Date, OffsetDateTime};
use uuid::Uuid;

/// An account's balances as the account page explains them (minor units, the account's
/// currency).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    /// KB's available balance and when KB computed it.
    pub available: Option<(i64, OffsetDateTime)>,
    /// KB's booked balance and the Prague day it opens (everything booked before that day).
    pub booked: Option<(i64, Date)>,
    /// Σ of the movements booked on that day or later.
    pub booked_since_minor: i64,
    /// How many movements those are.
    pub booked_since_count: i64,
}

impl Standing {
    /// The booked balance with everything booked since: the booked balance now.
    pub fn booked_now(&self) -> Option<i64> {
        self.booked
            .map(|(minor, _)| minor.saturating_add(self.booked_since_minor))
    }
}

/// The account's standing from its latest balances and its booked movements.
pub async fn standing(tx: &mut TenantTx, account_id: Uuid) -> Result<Standing, sqlx::Error> {
    let available: Option<(i64, OffsetDateTime)> = sqlx::query_as(
        "SELECT amount_minor, valid_at FROM balances \
          WHERE account_id = $1 AND balance_type = 'CLOSING_AVAILABLE' \
          ORDER BY valid_at DESC, fetched_at DESC LIMIT 1",
    )
    .bind(account_id)
    .fetch_optional(&mut **tx)
    .await?;
    let booked: Option<(i64, OffsetDateTime)> = sqlx::query_as(
        "SELECT amount_minor, valid_at FROM balances \
          WHERE account_id = $1 AND balance_type <> 'CLOSING_AVAILABLE' \
          ORDER BY valid_at DESC, fetched_at DESC LIMIT 1",
    )
    .bind(account_id)
    .fetch_optional(&mut **tx)
    .await?;
    // The day is the Prague date of the snapshot's instant, computed here (one time-zone path).
    let booked = booked.map(|(minor, at)| (minor, crate::i18n::prague_date(at)));
    let (booked_since_minor, booked_since_count) = match booked {
        Some((_, day)) => {
            sqlx::query_as(
                "SELECT coalesce(sum(amount_minor), 0)::int8, count(*) FROM transactions \
              WHERE account_id = $1 AND status = 'booked' AND booking_date >= $2",
            )
            .bind(account_id)
            .bind(day)
            .fetch_one(&mut **tx)
            .await?
        }
        None => (0, 0),
    };
    Ok(Standing {
        available,
        booked,
        booked_since_minor,
        booked_since_count,
    })
}
