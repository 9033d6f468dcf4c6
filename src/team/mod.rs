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
    INVITATION_LIFETIME, Invitation, PendingInvitation, find_invitation, pending_invitations,
};
pub use memberships::{Teammate, membership, teammates};
pub use roles::{Capability, ManageMoney, ManageTeam, Role, ViewClub};

use crate::audit::{self, Actor};
use crate::auth::password::{self, NewPassword};
use crate::auth::users;
use crate::auth::{Email, User, tokens};
use crate::db::tenant::{Tenant, TenantTx};
use crate::i18n::Lang;
use crate::limits::{self, Action};
use crate::mail;
use serde_json::json;
use sqlx::PgPool;
use time::OffsetDateTime;

/// Why a team change did not happen, by outcome.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Invite: the address is a teammate already.
    #[error("already a member")]
    AlreadyMember,
    /// Invite: too many invitations by this person or to this address recently
    /// (`crate::limits`).
    #[error(transparent)]
    TooMany(#[from] crate::limits::Limited),
    /// No such membership or invitation in this club.
    #[error("not found")]
    NotFound,
    /// The change would leave the club without an owner.
    #[error("last owner")]
    LastOwner,
    #[error(transparent)]
    Hash(#[from] password::HashError),
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
) -> Result<(), Error> {
    let Invite { email, role, lang } = invite;
    if memberships::has_teammate(mailer.pool(), tenant, email).await? {
        return Err(Error::AlreadyMember);
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
            role_key: role.label_key(),
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

/// Someone following an invitation link (`token`): the signed-in person if any, else a new
/// person choosing a `password` for the invited address (their language: `lang`).
#[derive(Debug, Clone, Copy)]
pub struct Accept<'a> {
    pub token: &'a str,
    pub signed_in: Option<&'a User>,
    pub password: &'a str,
    pub lang: Lang,
}

/// How accepting an invitation ended.
#[derive(Debug)]
pub enum Acceptance {
    /// The signed-in invitee joined the club with the invited role.
    Joined(Tenant),
    /// An account was created for the invited address (confirmed: the link proves it) and
    /// joined; the caller signs it in.
    JoinedAsNew { user: User, tenant: Tenant },
    /// The link is unknown, used, revoked or expired (also when that happened meanwhile).
    Invalid,
    /// Someone signed in with another address than the invited one.
    OtherPerson,
    /// The invited address has an account: it must log in to accept.
    LogInFirst,
    /// The password for the new account was refused.
    Password(password::Problem),
}

/// Accepts an invitation: a signed-in invitee joins; a new person gets an account and joins.
/// Claiming the invitation, the account, the membership and the audit entry are one
/// transaction, so a link accepted twice at once lets exactly one in.
pub async fn accept(
    pool: &PgPool,
    input: Accept<'_>,
    now: OffsetDateTime,
) -> Result<Acceptance, Error> {
    let Ok(invitation) = find_invitation(pool, input.token, now).await? else {
        return Ok(Acceptance::Invalid);
    };
    if let Some(user) = input.signed_in {
        if user.email != invitation.email {
            return Ok(Acceptance::OtherPerson);
        }
        let mut tx = TenantTx::begin(pool, &invitation.tenant).await?;
        if !invitations::claim(&mut tx, invitation.id, now).await? {
            return Ok(Acceptance::Invalid);
        }
        let details = json!({ "email": user.email.as_str(), "role": invitation.role.as_str() });
        enter(&mut tx, &invitation, user, details, now).await?;
        tx.commit().await?;
        return Ok(Acceptance::Joined(invitation.tenant));
    }
    if users::find_by_email(pool, &invitation.email)
        .await?
        .is_some()
    {
        return Ok(Acceptance::LogInFirst);
    }
    let password = match NewPassword::parse(input.password, Some(invitation.email.as_str())) {
        Ok(password) => password,
        Err(problem) => return Ok(Acceptance::Password(problem)),
    };
    let hash = password::hash(&password).await?;
    let mut tx = TenantTx::begin(pool, &invitation.tenant).await?;
    if !invitations::claim(&mut tx, invitation.id, now).await? {
        return Ok(Acceptance::Invalid);
    }
    let email = &invitation.email;
    let user = match users::create(&mut tx, email, &hash, input.lang, Some(now), now).await {
        Ok(user) => user,
        Err(crate::auth::Error::EmailTaken) => return Ok(Acceptance::LogInFirst),
        Err(crate::auth::Error::Hash(e)) => return Err(e.into()),
        Err(crate::auth::Error::Db(e)) => return Err(e.into()),
    };
    let details = json!({
        "email": user.email.as_str(), "role": invitation.role.as_str(), "new_account": true
    });
    enter(&mut tx, &invitation, &user, details, now).await?;
    tx.commit().await?;
    Ok(Acceptance::JoinedAsNew {
        user,
        tenant: invitation.tenant,
    })
}

/// In the transaction that claimed `invitation`: `user` becomes a teammate with its role, and
/// the audit log says so (`details`).
async fn enter(
    tx: &mut TenantTx,
    invitation: &Invitation,
    user: &User,
    details: serde_json::Value,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    memberships::add_teammate(tx, &invitation.tenant, user.id, invitation.role, now).await?;
    audit::record(tx, &Actor::person(user), "team.joined", details, now).await
}

/// Revokes a pending invitation of this club.
pub async fn revoke_invitation(
    pool: &PgPool,
    tenant: &Tenant,
    by: &User,
    invitation_id: i64,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let mut tx = TenantTx::begin(pool, tenant).await?;
    let email = invitations::revoke(&mut tx, invitation_id, now)
        .await?
        .ok_or(Error::NotFound)?;
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
) -> Result<(), Error> {
    let mut tx = TenantTx::begin(pool, tenant).await?;
    let all = memberships::lock_all(&mut tx).await?;
    let changed = all
        .iter()
        .find(|m| m.id == membership_id)
        .ok_or(Error::NotFound)?
        .clone();
    let owners = all.iter().filter(|m| m.role == "owner").count();
    let loses_owner = changed.role == "owner" && new_role != Some(Role::Owner);
    if loses_owner && owners <= 1 {
        return Err(Error::LastOwner);
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
