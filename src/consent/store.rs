//! SQL of the consent tables. The caller owns the transaction.

use super::status::{ConnectionStatus, ViewRow};
use crate::db::tenant::TenantTx;
use crate::sync::ledger::{AccountInfo, ensure_account};
use sqlx::{FromRow, PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// A bank connection row (secrets still sealed). Stays inside `consent`: pages get a
/// [`super::ConnectionView`].
#[derive(Debug, Clone, FromRow)]
pub(super) struct ConnectionRow {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub status: ConnectionStatus,
    pub kb_client_id: Option<String>,
    pub client_secret_enc: Option<String>,
    pub refresh_token_enc: Option<String>,
    pub access_token_enc: Option<String>,
    pub access_token_expires_at: Option<OffsetDateTime>,
}

const CONNECTION_COLUMNS: &str = "id, tenant_id, status, kb_client_id, client_secret_enc, \
    refresh_token_enc, access_token_enc, access_token_expires_at";

/// The club's current (not disconnected) connection.
pub(super) async fn live_connection(
    pool: &PgPool,
    tenant_id: Uuid,
) -> Result<Option<ConnectionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {CONNECTION_COLUMNS} FROM app.bank_connections \
         WHERE tenant_id = $1 AND status <> 'disconnected'"
    ))
    .bind(tenant_id)
    .fetch_optional(pool)
    .await
}

/// The club's current connection without its secret columns.
pub(super) async fn live_view(
    db: impl sqlx::PgExecutor<'_>,
    tenant_id: Uuid,
) -> Result<Option<ViewRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, status, consent_granted_at, consent_expires_at, broken_reason \
           FROM app.bank_connections WHERE tenant_id = $1 AND status <> 'disconnected'",
    )
    .bind(tenant_id)
    .fetch_optional(db)
    .await
}

/// The connection, locked for the rest of the transaction (single-flight token refresh).
pub(super) async fn lock_connection(
    conn: &mut PgConnection,
    id: Uuid,
) -> Result<Option<ConnectionRow>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {CONNECTION_COLUMNS} FROM app.bank_connections WHERE id = $1 FOR UPDATE"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await
}

/// New tokens for a connection (first connect or renewal): insert or update in place.
#[allow(clippy::too_many_arguments)]
pub async fn save_tokens(
    conn: &mut PgConnection,
    id: Uuid,
    tenant_id: Uuid,
    client_id: &str,
    client_secret_enc: &str,
    refresh_token_enc: &str,
    access_token_enc: &str,
    access_expires_at: OffsetDateTime,
    granted_at: OffsetDateTime,
    expires_at: OffsetDateTime,
    user: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO app.bank_connections (id, tenant_id, status, kb_client_id, client_secret_enc, \
            refresh_token_enc, access_token_enc, access_token_expires_at, consent_granted_at, \
            consent_expires_at, created_by, created_at, updated_at) \
         VALUES ($1, $2, 'active', $3, $4, $5, $6, $7, $8, $9, $10, $8, $8) \
         ON CONFLICT (id) DO UPDATE SET status = 'active', kb_client_id = excluded.kb_client_id, \
            client_secret_enc = excluded.client_secret_enc, refresh_token_enc = excluded.refresh_token_enc, \
            access_token_enc = excluded.access_token_enc, access_token_expires_at = excluded.access_token_expires_at, \
            consent_granted_at = excluded.consent_granted_at, consent_expires_at = excluded.consent_expires_at, \
            broken_reason = NULL, updated_at = excluded.updated_at",
    )
    .bind(id)
    .bind(tenant_id)
    .bind(client_id)
    .bind(client_secret_enc)
    .bind(refresh_token_enc)
    .bind(access_token_enc)
    .bind(access_expires_at)
    .bind(granted_at)
    .bind(expires_at)
    .bind(user)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn set_access_token(
    conn: &mut PgConnection,
    id: Uuid,
    access_token_enc: Option<&str>,
    expires_at: Option<OffsetDateTime>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE app.bank_connections SET access_token_enc = $2, access_token_expires_at = $3 \
         WHERE id = $1",
    )
    .bind(id)
    .bind(access_token_enc)
    .bind(expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn mark_broken(
    conn: &mut PgConnection,
    id: Uuid,
    reason: &str,
    now: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE app.bank_connections SET status = 'broken', broken_reason = $2, \
            access_token_enc = NULL, access_token_expires_at = NULL, updated_at = $3 \
         WHERE id = $1 AND status = 'active'",
    )
    .bind(id)
    .bind(reason)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Forgets every secret of the connection and marks it disconnected.
pub async fn disconnect(
    conn: &mut PgConnection,
    id: Uuid,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE app.bank_connections SET status = 'disconnected', client_secret_enc = NULL, \
            refresh_token_enc = NULL, access_token_enc = NULL, access_token_expires_at = NULL, \
            disconnected_at = $2, updated_at = $2 WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    crate::sync::jobs::disable_connection(conn, id).await
}

/// Which way back from KB a flow waits for (`app.consent_flows.step`, a checked column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum FlowStep {
    /// Back from the application registration (`/kb/registered`).
    Registration,
    /// Back from the authorization (`/kb/authorized`).
    Authorization,
}

/// A pending step of a connect or renew journey.
#[derive(Debug, Clone, FromRow)]
pub struct FlowRow {
    pub tenant_id: Uuid,
    pub user_id: Uuid,
    pub session_binding: Vec<u8>,
    pub connection_id: Uuid,
    pub step: FlowStep,
    pub registration_key_enc: Option<String>,
    pub kb_client_id: Option<String>,
    pub client_secret_enc: Option<String>,
    pub expires_at: OffsetDateTime,
}

pub async fn insert_flow(
    conn: &mut PgConnection,
    state_hash: &[u8],
    row: &FlowRow,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO app.consent_flows (state_hash, tenant_id, user_id, session_binding, \
            connection_id, step, registration_key_enc, kb_client_id, client_secret_enc, \
            created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(state_hash)
    .bind(row.tenant_id)
    .bind(row.user_id)
    .bind(&row.session_binding)
    .bind(row.connection_id)
    .bind(row.step)
    .bind(&row.registration_key_enc)
    .bind(&row.kb_client_id)
    .bind(&row.client_secret_enc)
    .bind(now)
    .bind(row.expires_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Takes (deletes and returns) the flow with this state: a state works once.
pub async fn take_flow(
    conn: &mut PgConnection,
    state_hash: &[u8],
) -> Result<Option<FlowRow>, sqlx::Error> {
    sqlx::query_as(
        "DELETE FROM app.consent_flows WHERE state_hash = $1 RETURNING tenant_id, user_id, \
            session_binding, connection_id, step, registration_key_enc, kb_client_id, \
            client_secret_enc, expires_at",
    )
    .bind(state_hash)
    .fetch_optional(conn)
    .await
}

/// Drops flows that expired without being used.
pub async fn purge_expired_flows(pool: &PgPool, now: OffsetDateTime) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM app.consent_flows WHERE expires_at < $1")
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected(),
    )
}

/// The newest software statement issued for these addresses and valid beyond `until`.
pub async fn usable_statement(
    pool: &PgPool,
    redirect_uri: &str,
    back_uri: &str,
    until: OffsetDateTime,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT statement FROM app.software_statements \
         WHERE redirect_uri = $1 AND back_uri = $2 AND expires_at > $3 ORDER BY issued_at DESC LIMIT 1",
    )
    .bind(redirect_uri)
    .bind(back_uri)
    .bind(until)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(s,)| s))
}

pub async fn save_statement(
    pool: &PgPool,
    statement: &str,
    redirect_uri: &str,
    back_uri: &str,
    issued_at: OffsetDateTime,
    expires_at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO app.software_statements (statement, redirect_uri, back_uri, issued_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(statement)
    .bind(redirect_uri)
    .bind(back_uri)
    .bind(issued_at)
    .bind(expires_at)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records an account the connection exposes, in the control plane and (through
/// `sync::ledger::ensure_account`, which owns the table) the club's schema; returns its id.
///
/// An account is one account for its whole life: its identity is the IBAN (spaces and case
/// ignored) and currency within the club. When the club already has it (an earlier connection
/// exposed it), that row is pointed at this connection and KB's current `accountId`, and keeps
/// its id, history, matches and sync job; `id` is used only for an account Kasa has not seen.
#[allow(clippy::too_many_arguments)]
pub async fn insert_account(
    tx: &mut TenantTx,
    id: Uuid,
    connection_id: Uuid,
    kb_account_id: &str,
    iban: &str,
    currency: &str,
    name: Option<&str>,
    now: OffsetDateTime,
) -> Result<Uuid, sqlx::Error> {
    let tenant_id = tx.tenant_id();
    let known: Option<(Uuid,)> = sqlx::query_as(
        "SELECT id FROM app.bank_accounts \
          WHERE tenant_id = $1 AND upper(replace(iban, ' ', '')) = upper(replace($2, ' ', '')) \
            AND currency = $3 \
          ORDER BY created_at, id LIMIT 1 FOR UPDATE",
    )
    .bind(tenant_id)
    .bind(iban)
    .bind(currency)
    .fetch_optional(&mut **tx)
    .await?;
    let id = match known {
        Some((known,)) => {
            sqlx::query(
                "UPDATE app.bank_accounts SET connection_id = $2, kb_account_id = $3, iban = $4 \
                 WHERE id = $1",
            )
            .bind(known)
            .bind(connection_id)
            .bind(kb_account_id)
            .bind(iban)
            .execute(&mut **tx)
            .await?;
            known
        }
        None => {
            sqlx::query(
                "INSERT INTO app.bank_accounts (id, tenant_id, connection_id, kb_account_id, iban, currency, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(tenant_id)
            .bind(connection_id)
            .bind(kb_account_id)
            .bind(iban)
            .bind(currency)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            id
        }
    };
    let account = AccountInfo {
        id,
        kb_account_id: kb_account_id.to_owned(),
        iban: iban.to_owned(),
        currency: currency.to_owned(),
        name: name.map(str::to_owned),
    };
    ensure_account(tx, &account, now).await?;
    Ok(id)
}

/// Forgets an account in the control plane (its sync job and KB subscriptions go with it);
/// the club's copy is `sync::ledger::delete_account`'s.
pub async fn delete_account(conn: &mut PgConnection, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM app.bank_accounts WHERE id = $1")
        .bind(id)
        .execute(conn)
        .await?;
    Ok(())
}

/// The ids of the club's accounts a live (not disconnected) connection exposes now.
pub async fn connected_accounts(
    db: impl sqlx::PgExecutor<'_>,
    tenant_id: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT a.id FROM app.bank_accounts a \
           JOIN app.bank_connections c ON c.id = a.connection_id \
          WHERE a.tenant_id = $1 AND c.status <> 'disconnected'",
    )
    .bind(tenant_id)
    .fetch_all(db)
    .await
}

/// Every account the club has (connected or not): ids, oldest first.
pub async fn club_accounts(pool: &PgPool, tenant_id: Uuid) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM app.bank_accounts WHERE tenant_id = $1 ORDER BY created_at, id",
    )
    .bind(tenant_id)
    .fetch_all(pool)
    .await
}

/// The accounts of a connection: (id, KB account id).
pub async fn accounts_of(
    pool: &PgPool,
    connection_id: Uuid,
) -> Result<Vec<(Uuid, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, kb_account_id FROM app.bank_accounts WHERE connection_id = $1 ORDER BY created_at")
        .bind(connection_id)
        .fetch_all(pool)
        .await
}

/// Subscriptions of a connection's accounts: (subscription id, KB account id).
pub async fn subscriptions_of(
    pool: &PgPool,
    connection_id: Uuid,
) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT s.subscription_id, a.kb_account_id FROM app.event_subscriptions s \
         JOIN app.bank_accounts a ON a.id = s.account_id WHERE a.connection_id = $1",
    )
    .bind(connection_id)
    .fetch_all(pool)
    .await
}

pub async fn save_subscription(
    pool: &PgPool,
    subscription_id: &str,
    account_id: Uuid,
    tenant_id: Uuid,
    key_hash: &[u8],
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO app.event_subscriptions (subscription_id, account_id, tenant_id, key_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (subscription_id) DO UPDATE SET key_hash = excluded.key_hash",
    )
    .bind(subscription_id)
    .bind(account_id)
    .bind(tenant_id)
    .bind(key_hash)
    .bind(now)
    .execute(pool)
    .await?;
    Ok(())
}

pub async fn delete_subscriptions(
    conn: &mut PgConnection,
    connection_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM app.event_subscriptions WHERE account_id IN \
         (SELECT id FROM app.bank_accounts WHERE connection_id = $1)",
    )
    .bind(connection_id)
    .execute(conn)
    .await?;
    Ok(())
}

/// The stored key hash and account of a subscription.
pub async fn subscription(
    pool: &PgPool,
    subscription_id: &str,
) -> Result<Option<(Uuid, Vec<u8>)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT account_id, key_hash FROM app.event_subscriptions WHERE subscription_id = $1",
    )
    .bind(subscription_id)
    .fetch_optional(pool)
    .await
}
