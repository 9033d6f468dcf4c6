//! The club's audit log (tenant table `audit_log`): who did what, when.
//!
//! Writes take a [`TenantTx`], so an entry always lands in the club whose change it records,
//! inside the same transaction as the change itself.

use crate::db::tenant::TenantTx;
use serde_json::Value;
use time::OffsetDateTime;

/// Who acted.
#[derive(Debug, Clone)]
pub struct Actor {
    pub user_id: Option<crate::auth::UserId>,
    pub email: Option<String>,
}

impl Actor {
    /// Kasa itself: a rule acted, not a person.
    pub const SYSTEM: Actor = Actor {
        user_id: None,
        email: None,
    };

    /// A signed-in person.
    pub fn person(user: &crate::auth::User) -> Actor {
        Actor {
            user_id: Some(user.id),
            email: Some(user.email.to_string()),
        }
    }
}

/// One entry as shown on the audit page.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Entry {
    pub id: i64,
    pub at: OffsetDateTime,
    pub actor_email: Option<String>,
    pub action: String,
    pub details: Value,
}

pub async fn record(
    tx: &mut TenantTx,
    actor: &Actor,
    action: &str,
    details: Value,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor_user_id, actor_email, action, details) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(now)
    .bind(actor.user_id)
    .bind(&actor.email)
    .bind(action)
    .bind(details)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

pub async fn recent(tx: &mut TenantTx, limit: i64) -> Result<Vec<Entry>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, at, actor_email, action, details FROM audit_log ORDER BY at DESC, id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(&mut **tx)
    .await
}
