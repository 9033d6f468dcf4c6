//! The sync's vocabulary at its boundaries, typed: what a run ended with ([`RunOutcome`], stored
//! in `sync_runs.outcome`), what started it ([`Trigger`], `sync_runs.trigger`) and, when it did
//! not end well, the kind of [`Problem`] people are told about, stored beside the technical
//! detail (`problem` next to `last_error` in `bank_accounts` and `app.sync_jobs`). Pages
//! translate the kind; nothing classifies the detail text again.
//!
//! Every enum is stored as checked text (its `snake_case` name; the CHECK constraints are in
//! migrations `app/0005_sync_problem.sql` and `tenant/0007_sync_problem.sql`).

use std::fmt;

use crate::bank::Error as BankError;

/// The kind of problem that stopped or limited an account's last sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Problem {
    /// KB or the network is down or slow (5xx, time-outs, connection errors).
    Unavailable,
    /// The transaction history kept changing while it was paged.
    Shifting,
    /// KB's 61-minute limit blocks the download Kasa needs (the last one was never applied).
    Blocked,
    /// KB's rate limit (429 on the token, the balances or the statements).
    RateLimited,
    /// The transactions were written, but the balances could not be read.
    Balances,
    /// KB refused the refresh token: the club must connect again.
    Consent,
    /// KB rejected the access token, also after a refresh.
    Token,
    /// The account is no longer exposed to Kasa at KB.
    Account,
    /// Anything else (database trouble, an answer Kasa does not understand, an inactive club).
    Other,
}

impl Problem {
    /// The kind of a KB client error.
    pub fn of_bank(error: &BankError) -> Self {
        match error {
            BankError::Unavailable { .. } => Self::Unavailable,
            BankError::HistoryShifted => Self::Shifting,
            BankError::RateLimited { .. } | BankError::UnchangedData { .. } => Self::RateLimited,
            BankError::ConsentGone { .. } => Self::Consent,
            BankError::Unauthorized { .. } => Self::Token,
            BankError::AccountNotConfigured { .. } => Self::Account,
            BankError::NotFound { .. }
            | BankError::Rejected { .. }
            | BankError::Protocol(_)
            | BankError::InvalidCallback(_)
            | BankError::Config(_) => Self::Other,
        }
    }

    /// The kind when the balances could not be read after the transactions were: a rate limit
    /// stays a rate limit, anything else is [`Problem::Balances`].
    pub fn of_balances(error: &BankError) -> Self {
        match Self::of_bank(error) {
            Self::RateLimited => Self::RateLimited,
            _ => Self::Balances,
        }
    }

    /// Translation key of the plain-language message (`sync.problem.*`).
    pub fn label_key(self) -> &'static str {
        match self {
            Self::Unavailable => "sync.problem.unavailable",
            Self::Shifting => "sync.problem.shifting",
            Self::Blocked => "sync.problem.blocked",
            Self::RateLimited => "sync.problem.rate_limited",
            Self::Balances => "sync.problem.balances",
            Self::Consent => "sync.problem.consent",
            Self::Token => "sync.problem.token",
            Self::Account => "sync.problem.account",
            Self::Other => "sync.problem.other",
        }
    }
}

/// A problem and its technical detail (an error's text: short, without secrets; shown to
/// operators and under "details", never parsed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub problem: Problem,
    pub detail: String,
}

impl Failure {
    pub fn new(problem: Problem, detail: impl Into<String>) -> Self {
        Self {
            problem,
            detail: detail.into(),
        }
    }

    /// A KB client error, classified by [`Problem::of_bank`].
    pub fn bank(error: &BankError) -> Self {
        Self::new(Problem::of_bank(error), error.to_string())
    }
}

/// What a sync run ended with (`sync_runs.outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum RunOutcome {
    /// The download was written completely.
    Synced,
    /// The transactions were written, the balances were not (the account stays stale).
    Partial,
    /// KB's unchanged-data answer after an applied download: nothing new, the account is fresh.
    Unchanged,
    /// KB's unchanged-data answer after a download that was never applied.
    Blocked,
    /// A rate limit.
    RateLimited,
    /// Anything else that stopped the run; retried with backoff.
    Failed,
    /// The consent is gone or the account is no longer exposed: the job stops.
    Disabled,
}

impl RunOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Synced => "synced",
            Self::Partial => "partial",
            Self::Unchanged => "unchanged",
            Self::Blocked => "blocked",
            Self::RateLimited => "rate_limited",
            Self::Failed => "failed",
            Self::Disabled => "disabled",
        }
    }
}

impl fmt::Display for RunOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What started a sync run (`sync_runs.trigger`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Trigger {
    /// The first sync of the account (the whole history KB allows).
    First,
    /// The regular poll.
    Schedule,
    /// A KB notification made the job due.
    Notification,
    /// A retry after a failed run.
    Retry,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::First => "first",
            Self::Schedule => "schedule",
            Self::Notification => "notification",
            Self::Retry => "retry",
        }
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bank_errors_become_the_problem_people_are_told_about() {
        let reason = || "x".to_owned();
        let cases = [
            (
                BankError::Unavailable { reason: reason() },
                Problem::Unavailable,
            ),
            (BankError::HistoryShifted, Problem::Shifting),
            (
                BankError::RateLimited {
                    retry_after: Some(Duration::from_secs(60)),
                    reason: reason(),
                },
                Problem::RateLimited,
            ),
            (
                BankError::ConsentGone { reason: reason() },
                Problem::Consent,
            ),
            (BankError::Unauthorized { reason: reason() }, Problem::Token),
            (
                BankError::AccountNotConfigured { reason: reason() },
                Problem::Account,
            ),
            (BankError::Protocol(reason()), Problem::Other),
        ];
        for (error, problem) in cases {
            assert_eq!(Problem::of_bank(&error), problem, "{error}");
        }
    }

    #[test]
    fn balances_that_could_not_be_read_are_their_own_problem_unless_rate_limited() {
        let limited = BankError::RateLimited {
            retry_after: None,
            reason: "429".into(),
        };
        let down = BankError::Unavailable {
            reason: "503".into(),
        };
        assert_eq!(Problem::of_balances(&limited), Problem::RateLimited);
        assert_eq!(Problem::of_balances(&down), Problem::Balances);
    }
}
