//! Who works on a club in Kasa (its teammates) and what they may do: roles, memberships,
//! invitations. (Club *members*, who pay fees, are the `member` module.)
//!
//! Owns `app.memberships` and `app.invitations`. Every change of membership is written to the
//! club's audit log in the same breath. Permissions are expressed as capability types
//! ([`Capability`]): the web layer's extractor hands a handler a `ClubAccess<ManageTeam>` only
//! after checking the role, so a handler cannot forget the check.

use crate::audit::{self, Actor};
use crate::auth::users::{self, CreateUserError};
use crate::auth::{Email, User, UserId, tokens};
use crate::db::tenant::{Tenant, TenantTx};
use crate::i18n::Lang;
use crate::limits::{self, Action};
use crate::mail;
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// A person's role in a club. Ordered: an owner can do all a treasurer can, and so on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Treasurer,
    Owner,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Owner, Role::Treasurer, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Treasurer => "treasurer",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "owner" => Some(Role::Owner),
            "treasurer" => Some(Role::Treasurer),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }

    /// Translation key of the role's name.
    pub fn label_key(self) -> &'static str {
        match self {
            Role::Owner => "role.owner",
            Role::Treasurer => "role.treasurer",
            Role::Viewer => "role.viewer",
        }
    }
}

/// Something a teammate may be allowed to do; the minimum role is the whole rule.
pub trait Capability: Send + Sync + 'static {
    const MIN_ROLE: Role;
}

/// See the club's data.
pub struct ViewClub;
/// Work with the money: bank connection, matching, members.
pub struct ManageMoney;
/// Invite and remove people, change roles.
pub struct ManageTeam;

impl Capability for ViewClub {
    const MIN_ROLE: Role = Role::Viewer;
}
impl Capability for ManageMoney {
    const MIN_ROLE: Role = Role::Treasurer;
}
impl Capability for ManageTeam {
    const MIN_ROLE: Role = Role::Owner;
}

/// How long an invitation link is valid.
pub const INVITATION_LIFETIME: Duration = Duration::days(7);

/// The club and role of a person who is a teammate, or `None`.
pub async fn membership(
    pool: &PgPool,
    tenant_id: Uuid,
    user: UserId,
) -> Result<Option<(Tenant, String, Role)>, sqlx::Error> {
    let row: Option<(Uuid, String, String, String)> = sqlx::query_as(
        "SELECT t.id, t.schema_name, t.name, m.role FROM app.memberships m \
         JOIN app.tenants t ON t.id = m.tenant_id \
         WHERE m.tenant_id = $1 AND m.user_id = $2 AND t.status = 'active'",
    )
    .bind(tenant_id)
    .bind(user)
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(id, schema, name, role)| {
        Some((Tenant::from_row(id, &schema)?, name, Role::parse(&role)?))
    }))
}

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

/// A teammate (a person with access to the club) as listed on the team page.
#[derive(Debug, Clone)]
pub struct Teammate {
    pub membership_id: i64,
    pub user_id: UserId,
    pub email: String,
    pub role: Role,
    pub since: OffsetDateTime,
}

/// A pending invitation as listed on the team page.
#[derive(Debug, Clone)]
pub struct PendingInvitation {
    pub id: i64,
    pub email: String,
    pub role: Role,
    pub expires_at: OffsetDateTime,
}

pub async fn teammates(pool: &PgPool, tenant: &Tenant) -> Result<Vec<Teammate>, sqlx::Error> {
    let rows: Vec<(i64, Uuid, String, String, OffsetDateTime)> = sqlx::query_as(
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

#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    #[error("already a member")]
    AlreadyMember,
    /// Too many invitations by this person or to this address recently (`crate::limits`).
    #[error(transparent)]
    TooMany(#[from] crate::limits::Limited),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn actor(user: &User) -> Actor {
    Actor {
        user_id: Some(user.id),
        email: Some(user.email.to_string()),
    }
}

/// An invitation to send: to whom, with which role, the mail in which language (the inviting
/// person's).
#[derive(Debug, Clone)]
pub struct Invite {
    pub email: Email,
    pub role: Role,
    pub lang: Lang,
}

/// Invites `invite.email` to the club (`club_name` for the mail) with `invite.role`, queues the
/// invitation e-mail and wakes the delivery worker.
pub async fn invite(
    mailer: &mail::Mailer,
    tenant: &Tenant,
    club_name: &str,
    by: &User,
    invite: &Invite,
    now: OffsetDateTime,
) -> Result<(), InviteError> {
    let pool = mailer.pool();
    let Invite { email, role, lang } = invite;
    let (role, lang) = (*role, *lang);
    let already: Option<(i64,)> = sqlx::query_as(
        "SELECT m.id FROM app.memberships m JOIN app.users u ON u.id = m.user_id \
         WHERE m.tenant_id = $1 AND lower(u.email) = $2",
    )
    .bind(tenant.id())
    .bind(email.as_str())
    .fetch_optional(pool)
    .await?;
    if already.is_some() {
        return Err(InviteError::AlreadyMember);
    }
    let token = tokens::generate();
    let mut tx = TenantTx::begin(pool, tenant).await?;
    let by_id = by.id.to_string();
    limits::reserve(&mut tx, Action::InvitationByPerson, &by_id, now).await??;
    limits::reserve(&mut tx, Action::InvitationToAddress, email.as_str(), now).await??;
    sqlx::query(
        "INSERT INTO app.invitations (tenant_id, email, role, token_hash, invited_by, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(tenant.id())
    .bind(email.as_str())
    .bind(role.as_str())
    .bind(&token.hash)
    .bind(by.id)
    .bind(now)
    .bind(now + INVITATION_LIFETIME)
    .execute(&mut *tx)
    .await?;
    mail::outbox::enqueue(
        &mut tx,
        &mail::templates::invitation(
            lang,
            &mail::templates::Invitation {
                club: club_name,
                inviter: by.email.as_str(),
                invitee: email.as_str(),
                role,
                link: &mailer.links().invitation(&token.plain),
            },
        ),
        email,
        None,
        now,
    )
    .await?;
    audit::record(
        &mut tx,
        &actor(by),
        "team.invited",
        json!({ "email": email.as_str(), "role": role.as_str() }),
        now,
    )
    .await?;
    tx.commit().await?;
    mailer.wake();
    Ok(())
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum InvitationRejected {
    #[error("unknown, used or revoked")]
    Unknown,
    #[error("expired")]
    Expired,
}

pub async fn find_invitation(
    pool: &PgPool,
    plain_token: &str,
    now: OffsetDateTime,
) -> Result<Result<Invitation, InvitationRejected>, sqlx::Error> {
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
        return Ok(Err(InvitationRejected::Unknown));
    };
    if expires_at <= now {
        return Ok(Err(InvitationRejected::Expired));
    }
    let (Some(tenant), Some(role)) = (Tenant::from_row(tenant_id, &schema), Role::parse(&role))
    else {
        return Ok(Err(InvitationRejected::Unknown));
    };
    Ok(Ok(Invitation {
        id,
        tenant,
        club_name,
        email: Email::from_stored(email),
        role,
    }))
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("invitation no longer valid")]
    NoLongerValid,
    #[error("e-mail already registered")]
    EmailTaken,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// An existing, signed-in person accepts: they join with the invited role.
pub async fn accept_as_existing(
    pool: &PgPool,
    invitation: &Invitation,
    user: &User,
    now: OffsetDateTime,
) -> Result<(), AcceptError> {
    let mut tx = TenantTx::begin(pool, &invitation.tenant).await?;
    claim_invitation(&mut tx, invitation.id, now).await?;
    add_teammate(&mut tx, &invitation.tenant, user.id, invitation.role, now).await?;
    audit::record(
        &mut tx,
        &actor(user),
        "team.joined",
        json!({ "email": user.email.as_str(), "role": invitation.role.as_str() }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// A new person accepts: their account is created (e-mail confirmed by the link) and joins.
pub async fn accept_as_new(
    pool: &PgPool,
    invitation: &Invitation,
    password_hash: &str,
    lang: Lang,
    now: OffsetDateTime,
) -> Result<User, AcceptError> {
    let mut tx = TenantTx::begin(pool, &invitation.tenant).await?;
    claim_invitation(&mut tx, invitation.id, now).await?;
    let user = users::create(
        &mut tx,
        &invitation.email,
        password_hash,
        lang,
        Some(now),
        now,
    )
    .await
    .map_err(|e| match e {
        CreateUserError::EmailTaken => AcceptError::EmailTaken,
        CreateUserError::Db(e) => AcceptError::Db(e),
    })?;
    add_teammate(&mut tx, &invitation.tenant, user.id, invitation.role, now).await?;
    audit::record(
        &mut tx,
        &actor(&user),
        "team.joined",
        json!({ "email": user.email.as_str(), "role": invitation.role.as_str(), "new_account": true }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

async fn claim_invitation(
    conn: &mut PgConnection,
    id: i64,
    now: OffsetDateTime,
) -> Result<(), AcceptError> {
    let claimed = sqlx::query(
        "UPDATE app.invitations SET accepted_at = $2 \
         WHERE id = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?;
    if claimed.rows_affected() == 1 {
        Ok(())
    } else {
        Err(AcceptError::NoLongerValid)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TeamChangeError {
    /// No such membership or invitation in this club.
    #[error("not found")]
    NotFound,
    /// The change would leave the club without an owner.
    #[error("last owner")]
    LastOwner,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

/// Revokes a pending invitation of this club.
pub async fn revoke_invitation(
    pool: &PgPool,
    tenant: &Tenant,
    by: &User,
    invitation_id: i64,
    now: OffsetDateTime,
) -> Result<(), TeamChangeError> {
    let mut tx = TenantTx::begin(pool, tenant).await?;
    let row: Option<(String,)> = sqlx::query_as(
        "UPDATE app.invitations SET revoked_at = $3 \
         WHERE id = $1 AND tenant_id = $2 AND accepted_at IS NULL AND revoked_at IS NULL \
         RETURNING email",
    )
    .bind(invitation_id)
    .bind(tenant.id())
    .bind(now)
    .fetch_optional(&mut *tx)
    .await?;
    let (email,) = row.ok_or(TeamChangeError::NotFound)?;
    audit::record(
        &mut tx,
        &actor(by),
        "team.invitation_revoked",
        json!({ "email": email }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Revokes the pending invitations `inviter` sent for this club: an owner who is removed or
/// demoted no longer vouches for the people they invited (issue 12, docs/security.md).
async fn revoke_invitations_by(
    tx: &mut TenantTx,
    tenant: &Tenant,
    inviter: UserId,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    let revoked: Vec<(String,)> = sqlx::query_as(
        "UPDATE app.invitations SET revoked_at = $3 \
         WHERE tenant_id = $1 AND invited_by = $2 AND accepted_at IS NULL AND revoked_at IS NULL \
         RETURNING email",
    )
    .bind(tenant.id())
    .bind(inviter)
    .bind(now)
    .fetch_all(&mut **tx)
    .await?;
    for (email,) in revoked {
        let system = Actor {
            user_id: None,
            email: None,
        };
        audit::record(
            tx,
            &system,
            "team.invitation_revoked",
            json!({ "email": email, "reason": "inviter_no_longer_owner" }),
            now,
        )
        .await?;
    }
    Ok(())
}

/// Changes a teammate's role, or removes them (`None`). The last owner stays. When an owner is
/// demoted or removed, the invitations they sent and that are still pending are revoked in the
/// same transaction.
pub async fn change_teammate(
    pool: &PgPool,
    tenant: &Tenant,
    by: &User,
    membership_id: i64,
    new_role: Option<Role>,
    now: OffsetDateTime,
) -> Result<(), TeamChangeError> {
    let mut tx = TenantTx::begin(pool, tenant).await?;
    // Lock the club's memberships so two owners cannot demote each other at once.
    let rows: Vec<(i64, String, String, Uuid)> = sqlx::query_as(
        "SELECT m.id, m.role, u.email, u.id FROM app.memberships m \
         JOIN app.users u ON u.id = m.user_id \
         WHERE m.tenant_id = $1 FOR UPDATE OF m",
    )
    .bind(tenant.id())
    .fetch_all(&mut *tx)
    .await?;
    let (_, old_role, email, member_id) = rows
        .iter()
        .find(|(id, _, _, _)| *id == membership_id)
        .ok_or(TeamChangeError::NotFound)?
        .clone();
    let owners = rows.iter().filter(|(_, r, _, _)| r == "owner").count();
    if old_role == "owner" && owners <= 1 && new_role != Some(Role::Owner) {
        return Err(TeamChangeError::LastOwner);
    }
    if old_role == "owner" && new_role != Some(Role::Owner) {
        revoke_invitations_by(&mut tx, tenant, member_id, now).await?;
    }
    match new_role {
        Some(role) => {
            sqlx::query("UPDATE app.memberships SET role = $3 WHERE id = $1 AND tenant_id = $2")
                .bind(membership_id)
                .bind(tenant.id())
                .bind(role.as_str())
                .execute(&mut *tx)
                .await?;
            audit::record(
                &mut tx,
                &actor(by),
                "team.role_changed",
                json!({ "email": email, "from": old_role, "to": role.as_str() }),
                now,
            )
            .await?;
        }
        None => {
            sqlx::query("DELETE FROM app.memberships WHERE id = $1 AND tenant_id = $2")
                .bind(membership_id)
                .bind(tenant.id())
                .execute(&mut *tx)
                .await?;
            audit::record(
                &mut tx,
                &actor(by),
                "team.removed",
                json!({ "email": email }),
                now,
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}
