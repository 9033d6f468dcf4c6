//! Who works on a club in Kasa (its teammates) and what they may do: roles, memberships,
//! invitations. (Club *members*, who pay fees, are the `member` module.)
//!
//! Owns `app.memberships` ([`memberships`]) and `app.invitations` ([`invitations`]); roles and
//! the capability types the web layer checks are in [`roles`]. This file holds the team's
//! journeys: invite, accept an invitation, revoke one, change a role or remove a teammate. Each
//! is one transaction that writes the club's audit log in the same breath.

pub mod invitations;
pub mod memberships;
pub mod roles;

pub use invitations::{
    INVITATION_LIFETIME, Invitation, InvitationRejected, PendingInvitation, find_invitation,
    pending_invitations,
};
pub use memberships::{Teammate, membership, teammates};
pub use roles::{Capability, ManageMoney, ManageTeam, Role, ViewClub};

use crate::audit::{self, Actor};
use crate::auth::users::{self, CreateUserError};
use crate::auth::{Email, User, tokens};
use crate::db::tenant::{Tenant, TenantTx};
use crate::i18n::Lang;
use crate::limits::{self, Action};
use crate::mail;
use serde_json::json;
use sqlx::PgPool;
use time::OffsetDateTime;

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
    let Invite { email, role, lang } = invite;
    if memberships::has_teammate(mailer.pool(), tenant, email).await? {
        return Err(InviteError::AlreadyMember);
    }
    let token = tokens::generate();
    let mut tx = TenantTx::begin(mailer.pool(), tenant).await?;
    let by_id = by.id.to_string();
    limits::reserve(&mut tx, Action::InvitationByPerson, &by_id, now).await??;
    limits::reserve(&mut tx, Action::InvitationToAddress, email.as_str(), now).await??;
    invitations::insert(&mut tx, email, *role, &token.hash, by.id, now).await?;
    let message = mail::templates::invitation(
        *lang,
        &mail::templates::Invitation {
            club: club_name,
            inviter: by.email.as_str(),
            invitee: email.as_str(),
            role: *role,
            link: &mailer.links().invitation(&token.plain),
        },
    );
    mail::outbox::enqueue(&mut tx, &message, email, None, now).await?;
    audit::record(
        &mut tx,
        &Actor::person(by),
        "team.invited",
        json!({ "email": email.as_str(), "role": role.as_str() }),
        now,
    )
    .await?;
    tx.commit().await?;
    mailer.wake();
    Ok(())
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
    memberships::add_teammate(&mut tx, &invitation.tenant, user.id, invitation.role, now).await?;
    audit::record(
        &mut tx,
        &Actor::person(user),
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
    memberships::add_teammate(&mut tx, &invitation.tenant, user.id, invitation.role, now).await?;
    audit::record(
        &mut tx,
        &Actor::person(&user),
        "team.joined",
        json!({ "email": user.email.as_str(), "role": invitation.role.as_str(), "new_account": true }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(user)
}

async fn claim_invitation(
    conn: &mut sqlx::PgConnection,
    id: i64,
    now: OffsetDateTime,
) -> Result<(), AcceptError> {
    if invitations::claim(conn, id, now).await? {
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
    let email = invitations::revoke(&mut tx, invitation_id, now)
        .await?
        .ok_or(TeamChangeError::NotFound)?;
    audit::record(
        &mut tx,
        &Actor::person(by),
        "team.invitation_revoked",
        json!({ "email": email }),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Changes a teammate's role, or removes them (`None`). The last owner stays. When an owner is
/// demoted or removed, the invitations they sent and that are still pending are revoked in the
/// same transaction: they no longer vouch for the people they invited (issue 12,
/// docs/security.md).
pub async fn change_teammate(
    pool: &PgPool,
    tenant: &Tenant,
    by: &User,
    membership_id: i64,
    new_role: Option<Role>,
    now: OffsetDateTime,
) -> Result<(), TeamChangeError> {
    let mut tx = TenantTx::begin(pool, tenant).await?;
    let all = memberships::lock_all(&mut tx).await?;
    let changed = all
        .iter()
        .find(|m| m.id == membership_id)
        .ok_or(TeamChangeError::NotFound)?
        .clone();
    let owners = all.iter().filter(|m| m.role == "owner").count();
    let loses_owner = changed.role == "owner" && new_role != Some(Role::Owner);
    if loses_owner && owners <= 1 {
        return Err(TeamChangeError::LastOwner);
    }
    if loses_owner {
        for email in invitations::revoke_sent_by(&mut tx, changed.user_id, now).await? {
            audit::record(
                &mut tx,
                &Actor::SYSTEM,
                "team.invitation_revoked",
                json!({ "email": email, "reason": "inviter_no_longer_owner" }),
                now,
            )
            .await?;
        }
    }
    match new_role {
        Some(role) => {
            memberships::set_role(&mut tx, membership_id, role).await?;
            audit::record(
                &mut tx,
                &Actor::person(by),
                "team.role_changed",
                json!({ "email": changed.email, "from": changed.role, "to": role.as_str() }),
                now,
            )
            .await?;
        }
        None => {
            memberships::remove(&mut tx, membership_id).await?;
            audit::record(
                &mut tx,
                &Actor::person(by),
                "team.removed",
                json!({ "email": changed.email }),
                now,
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}
