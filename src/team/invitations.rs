//! The SQL of `app.invitations`: pending invitations to a club, looked up by the SHA-256 of the
//! link's token ([`crate::auth::tokens`]), claimed once, revocable.

use super::roles::Role;
use crate::auth::{Email, UserId, tokens};
use crate::db::tenant::{Tenant, TenantTx};
use sqlx::{PgConnection, PgPool};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// How long an invitation link is valid.
pub const INVITATION_LIFETIME: Duration = Duration::days(7);

/// A pending invitation as listed on the team page.
#[derive(Debug, Clone)]
pub struct PendingInvitation {
    pub id: i64,
    pub email: String,
    pub role: Role,
    pub expires_at: OffsetDateTime,
}

/// An invitation looked up by its link.
#[derive(Debug, Clone)]
pub struct Invitation {
    pub id: i64,
    pub tenant: Tenant,
    pub club_name: String,
    pub email: Email,
    pub role: Role,
}

/// Why an invitation link is not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("unknown, used or revoked")]
    Unknown,
    #[error("expired")]
    Expired,
}

/// The club's invitations that can still be accepted, oldest first.
pub async fn pending_invitations(
    pool: &PgPool,
    tenant: &Tenant,
    now: OffsetDateTime,
) -> Result<Vec<PendingInvitation>, sqlx::Error> {
    let rows: Vec<(i64, String, String, OffsetDateTime)> = sqlx::query_as(
        "SELECT id, email, role, expires_at FROM app.invitations \
         WHERE tenant_id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2 \
         ORDER BY created_at",
    )
    .bind(tenant.id())
    .bind(now)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, email, role, expires_at)| {
            Some(PendingInvitation {
                id,
                email,
                role: Role::parse(&role)?,
                expires_at,
            })
        })
        .collect())
}

/// Stores an invitation of `email` with `role` by `by`, valid for [`INVITATION_LIFETIME`],
/// whose link carries the token hashed to `token_hash`.
pub(super) async fn insert(
    tx: &mut TenantTx,
    email: &Email,
    role: Role,
    token_hash: &[u8],
    by: UserId,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO app.invitations (tenant_id, email, role, token_hash, invited_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tx.tenant_id())
    .bind(email.as_str())
    .bind(role.as_str())
    .bind(token_hash)
    .bind(by)
    .bind(now)
    .bind(now + INVITATION_LIFETIME)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The invitation a link (`plain_token`) belongs to, if it is pending, unexpired and its club
/// active.
pub async fn find_invitation(
    pool: &PgPool,
    plain_token: &str,
    now: OffsetDateTime,
) -> Result<Result<Invitation, Rejected>, sqlx::Error> {
    let row: Option<(i64, Uuid, String, String, String, String, OffsetDateTime)> = sqlx::query_as(
        "SELECT i.id, t.id, t.schema_name, t.name, i.email, i.role, i.expires_at \
         FROM app.invitations i JOIN app.tenants t ON t.id = i.tenant_id \
         WHERE i.token_hash = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL \
           AND t.status = 'active'",
    )
    .bind(tokens::hash(plain_token))
    .fetch_optional(pool)
    .await?;
    let Some((id, tenant_id, schema, club_name, email, role, expires_at)) = row else {
        return Ok(Err(Rejected::Unknown));
    };
    if expires_at <= now {
        return Ok(Err(Rejected::Expired));
    }
    let (Some(tenant), Some(role)) = (Tenant::from_row(tenant_id, &schema), Role::parse(&role))
    else {
        return Ok(Err(Rejected::Unknown));
    };
    Ok(Ok(Invitation {
        id,
        tenant,
        club_name,
        email: Email::from_stored(email),
        role,
    }))
}

/// Marks the invitation accepted if it still can be (pending, unexpired); `false` if it was
/// accepted, revoked or expired meanwhile. The `UPDATE … WHERE` decides races.
pub(super) async fn claim(
    conn: &mut PgConnection,
    id: i64,
    now: OffsetDateTime,
) -> Result<bool, sqlx::Error> {
    let claimed = sqlx::query(
        "UPDATE app.invitations SET accepted_at = $2 \
         WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(claimed.rows_affected() == 1)
}

/// Revokes a pending invitation of the transaction's club; its address, or `None` if there is
/// no such pending invitation.
pub(super) async fn revoke(
    tx: &mut TenantTx,
    invitation_id: i64,
    now: OffsetDateTime,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> = sqlx::query_as(
        "UPDATE app.invitations SET revoked_at = $3 \
         WHERE id = $1 AND tenant_id = $2 AND accepted_at IS NULL AND revoked_at IS NULL \
         RETURNING email",
    )
    .bind(invitation_id)
    .bind(tx.tenant_id())
    .bind(now)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(row.map(|(email,)| email))
}

/// Revokes the pending invitations `inviter` sent for the transaction's club; their addresses.
pub(super) async fn revoke_sent_by(
    tx: &mut TenantTx,
    inviter: UserId,
    now: OffsetDateTime,
) -> Result<Vec<String>, sqlx::Error> {
    let revoked: Vec<(String,)> = sqlx::query_as(
        "UPDATE app.invitations SET revoked_at = $3 \
         WHERE tenant_id = $1 AND invited_by = $2 AND accepted_at IS NULL AND revoked_at IS NULL \
         RETURNING email",
    )
    .bind(tx.tenant_id())
    .bind(inviter)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    Ok(revoked.into_iter().map(|(email,)| email).collect())
}
