//! KB's monthly statements of a club's account (issue 10): listed and downloaded from KB when a
//! person asks (ADAA `GET /accounts/{id}/statements` and `…/statements/{statementId}`), never
//! stored by Kasa (the bank's PDF is the record). The account is found within the club only
//! (`app.bank_accounts` by tenant and id), so another club's account is [`Error::NotFound`];
//! the token comes from the [`AccessTokens`] provider (the consent module), as the sync's does.

use super::AccessTokens;
use crate::bank::wire::Statement;
use crate::bank::{Error as BankError, KbClient};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

/// Why statements cannot be shown.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No such account in this club (or no such statement of it).
    #[error("no such account or statement")]
    NotFound,
    /// The account's connection no longer lets Kasa read it (disconnected, expired, broken).
    #[error("the bank connection does not allow reading statements: {0}")]
    NoConsent(String),
    /// KB did not answer as expected (unavailable, rate-limited, a protocol problem).
    #[error("KB: {0}")]
    Bank(BankError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl From<BankError> for Error {
    fn from(error: BankError) -> Self {
        match error {
            BankError::NotFound { .. } | BankError::AccountNotConfigured { .. } => Error::NotFound,
            BankError::ConsentGone { reason } | BankError::Unauthorized { reason } => {
                Error::NoConsent(reason)
            }
            other => Error::Bank(other),
        }
    }
}

/// How far back the list reaches (KB keeps statements longer; two years is the history Kasa
/// reads).
pub const LIST_DAYS: i64 = 730;

/// The account's connection and KB's `accountId`, within `tenant_id` only.
async fn locate(pool: &PgPool, tenant_id: Uuid, account_id: Uuid) -> Result<(Uuid, String), Error> {
    sqlx::query_as(
        "SELECT connection_id, kb_account_id FROM app.bank_accounts \
          WHERE tenant_id = $1 AND id = $2",
    )
    .bind(tenant_id)
    .bind(account_id)
    .fetch_optional(pool)
    .await?
    .ok_or(Error::NotFound)
}

/// The statements KB issued for the account in the last [`LIST_DAYS`] days, newest first.
#[tracing::instrument(skip_all, fields(%account_id))]
pub async fn list(
    pool: &PgPool,
    kb: &KbClient,
    tokens: &impl AccessTokens,
    tenant_id: Uuid,
    account_id: Uuid,
    now: OffsetDateTime,
) -> Result<Vec<Statement>, Error> {
    let (connection, kb_account) = locate(pool, tenant_id, account_id).await?;
    let token = tokens.access_token(connection).await?;
    let since = crate::i18n::prague_day_start(
        crate::i18n::prague_date(now) - time::Duration::days(LIST_DAYS),
    );
    let mut statements = kb.statements(&token, &kb_account, since).await?;
    statements.sort_by(|a, b| {
        (b.issued, b.sequence_number, b.statement_id).cmp(&(
            a.issued,
            a.sequence_number,
            a.statement_id,
        ))
    });
    Ok(statements)
}

/// A statement's PDF and a file name for it (`vypis-2026-10-31-10.pdf`).
#[tracing::instrument(skip_all, fields(%account_id, statement_id))]
pub async fn pdf(
    pool: &PgPool,
    kb: &KbClient,
    tokens: &impl AccessTokens,
    tenant_id: Uuid,
    account_id: Uuid,
    statement_id: i64,
) -> Result<(Vec<u8>, String), Error> {
    let (connection, kb_account) = locate(pool, tenant_id, account_id).await?;
    let token = tokens.access_token(connection).await?;
    let bytes = kb.statement_pdf(&token, &kb_account, statement_id).await?;
    Ok((bytes, format!("vypis-{statement_id}.pdf")))
}
