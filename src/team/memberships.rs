//! The SQL of `app.memberships`: who is a teammate of which club, with which role. Rows are
//! always filtered by the club (`tenant_id`) as well as by id, so another club's ids are
//! simply not found.

use super::roles::Role;
use crate::auth::{Email, UserId};
use crate::db::tenant::{ClubId, Tenant, TenantTx};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// A teammate (a person with access to the club) as listed on the team page.
#[derive(Debug, Clone)]
pub struct Teammate {
    pub membership_id: i64,
    pub user_id: UserId,
    pub email: String,
    pub role: Role,
    pub since: OffsetDateTime,
}

/// The club and role of a person who is a teammate of an active club, or `None`.
pub async fn membership(
    pool: &PgPool,
    club: ClubId,
    user: UserId,
) -> Result<Option<(Tenant, String, Role)>, sqlx::Error> {
    let row: Option<(Uuid, String, String, String)> = sqlx::query_as(
        "SELECT t.id, t.schema_name, t.name, m.role FROM app.memberships m \
         JOIN app.tenants t ON t.id = m.tenant_id \
         WHERE m.tenant_id = $1 AND m.user_id = $2 AND t.status = 'active'",
    )
    .bind(club)
    .bind(user)
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(id, schema, name, role)| {
        Some((Tenant::from_row(id, &schema)?, name, Role::parse(&role)?))
    }))
}

/// Makes `user` a teammate with `role` (nothing changes if they already are one), in the
/// caller's transaction.
pub(crate) async fn add_teammate(
    conn: &mut PgConnection,
    tenant: &Tenant,
    user: UserId,
    role: Role,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO app.memberships (tenant_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (tenant_id, user_id) DO NOTHING",
    )
    .bind(tenant.id())
    .bind(user)
    .bind(role.as_str())
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// The club's teammates, oldest first.
pub async fn teammates(pool: &PgPool, tenant: &Tenant) -> Result<Vec<Teammate>, sqlx::Error> {
    let rows: Vec<(i64, UserId, String, String, OffsetDateTime)> = sqlx::query_as(
        "SELECT m.id, u.id, u.email, m.role, m.created_at FROM app.memberships m \
         JOIN app.users u ON u.id = m.user_id WHERE m.tenant_id = $1 ORDER BY m.created_at, m.id",
    )
    .bind(tenant.id())
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(membership_id, user_id, email, role, since)| {
            Some(Teammate {
                membership_id,
                user_id,
                email,
                role: Role::parse(&role)?,
                since,
            })
        })
        .collect())
}

/// Whether the account with this address is a teammate already.
pub(super) async fn has_teammate(
    pool: &PgPool,
    tenant: &Tenant,
    email: &Email,
) -> Result<bool, sqlx::Error> {
    let found: Option<(i64,)> = sqlx::query_as(
        "SELECT m.id FROM app.memberships m JOIN app.users u ON u.id = m.user_id \
         WHERE m.tenant_id = $1 AND lower(u.email) = $2",
    )
    .bind(tenant.id())
    .bind(email.as_str())
    .fetch_optional(pool)
    .await?;
    Ok(found.is_some())
}

/// One membership, locked for a change.
#[derive(Debug, Clone)]
pub(super) struct Locked {
    pub id: i64,
    pub role: String,
    pub email: String,
    pub user_id: UserId,
}

/// Every membership of the club, locked (`FOR UPDATE`) until the transaction ends, so two
/// owners cannot demote each other at once.
pub(super) async fn lock_all(tx: &mut TenantTx) -> Result<Vec<Locked>, sqlx::Error> {
    let rows: Vec<(i64, String, String, UserId)> = sqlx::query_as(
        "SELECT m.id, m.role, u.email, u.id FROM app.memberships m \
         JOIN app.users u ON u.id = m.user_id \
         WHERE m.tenant_id = $1 FOR UPDATE OF m",
    )
    .bind(tx.tenant_id())
    .fetch_all(&mut **tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, role, email, user_id)| Locked {
            id,
            role,
            email,
            user_id,
        })
        .collect())
}

/// Gives a membership of the transaction's club another role.
pub(super) async fn set_role(
    tx: &mut TenantTx,
    membership_id: i64,
    role: Role,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE app.memberships SET role = $3 WHERE id = $1 AND tenant_id = $2")
        .bind(membership_id)
        .bind(tx.tenant_id())
        .bind(role.as_str())
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Deletes a membership of the transaction's club.
pub(super) async fn remove(tx: &mut TenantTx, membership_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM app.memberships WHERE id = $1 AND tenant_id = $2")
        .bind(membership_id)
        .bind(tx.tenant_id())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
