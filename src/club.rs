//! Clubs (tenants) and how they come to exist: the sign-up of a new club by a new person, or
//! an additional club created by a signed-in person.
//!
//! A sign-up is one database transaction: the person's account, the club row, its schema with
//! all tenant tables (a ready spare claimed, or created inline: `db::tenant::provision`), the
//! owner membership, the e-mail confirmation token, the confirmation
//! e-mail in the outbox and the first audit entry. Either all of it exists or none of it.

use crate::audit::{self, Actor};
use crate::auth::password::NewPassword;
use crate::auth::users;
use crate::auth::{Email, User, tokens};
use crate::db::tenant::{self, Tenant, TenantTx};

pub use crate::db::tenant::ClubId;
use crate::i18n::Lang;
use crate::limits;
use crate::mail;
use crate::team::Role;
use serde_json::json;
use sqlx::PgPool;
use std::fmt;
use time::OffsetDateTime;

/// A Czech company identification number (IČO): 8 digits with a mod-11 check digit.
#[derive(Clone, PartialEq, Eq)]
pub struct Ico(String);

impl Ico {
    /// Accepts 8 digits (spaces ignored; shorter numbers are left-padded with zeros, as the
    /// registry writes them) whose last digit matches the weighted mod-11 checksum.
    pub fn parse(input: &str) -> Option<Ico> {
        let digits: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        if digits.is_empty() || digits.len() > 8 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
        let digits = format!("{digits:0>8}");
        let d: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
        let sum: u32 = d[..7]
            .iter()
            .zip((2..=8).rev())
            .map(|(digit, w)| digit * w)
            .sum();
        let check = match sum % 11 {
            0 => 1,
            1 => 0,
            r => (11 - r) % 10,
        };
        (d[7] == check).then_some(Ico(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Ico {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Ico {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ico({})", self.0)
    }
}

/// A club name: trimmed, 1 to 200 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClubName(String);

impl ClubName {
    pub fn parse(input: &str) -> Option<ClubName> {
        let name = input.trim();
        let len = name.chars().count();
        ((1..=200).contains(&len) && !name.chars().any(char::is_control))
            .then(|| ClubName(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A club as listed for a person (switcher, dashboard).
#[derive(Debug, Clone)]
pub struct ClubSummary {
    pub tenant: Tenant,
    pub name: String,
    pub ico: String,
    pub role: Role,
}

/// A validated sign-up.
#[derive(Debug)]
pub struct SignUp {
    pub club: ClubName,
    pub ico: Ico,
    pub email: Email,
    pub password: NewPassword,
    pub lang: Lang,
    /// The client's address, for the per-address sign-up limit (`crate::limits`).
    pub client: Option<String>,
}

/// Why a club was not created, by outcome.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Sign-up: the address is registered already.
    #[error("e-mail already registered")]
    EmailTaken,
    /// Another club: only a person with a confirmed address may create more clubs.
    #[error("e-mail address not confirmed")]
    EmailNotConfirmed,
    /// Too many sign-ups from this client address recently, or (another club) the person owns
    /// [`limits::MAX_OWNED_CLUBS`] clubs or created too many recently.
    #[error("too many clubs")]
    TooMany,
    #[error(transparent)]
    Hash(#[from] crate::auth::password::HashError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl From<limits::Limited> for Error {
    fn from(_: limits::Limited) -> Self {
        Error::TooMany
    }
}

impl From<crate::auth::Error> for Error {
    fn from(e: crate::auth::Error) -> Self {
        match e {
            crate::auth::Error::EmailTaken => Error::EmailTaken,
            crate::auth::Error::Hash(e) => Error::Hash(e),
            crate::auth::Error::Db(e) => Error::Db(e),
        }
    }
}

/// The result of a sign-up: the new person, the new club.
#[derive(Debug)]
pub struct SignedUp {
    pub user: User,
    pub tenant: Tenant,
    /// Another club with the same IČO was already in Kasa (allowed — rarely two clubs share
    /// one — but the person is told they may want an invitation to it instead).
    pub ico_shared: bool,
}

/// Creates the person and the club atomically, queues the confirmation e-mail and wakes the
/// delivery worker.
#[tracing::instrument(skip_all, fields(club = tracing::field::Empty, user_id = tracing::field::Empty))]
pub async fn sign_up(
    mailer: &mail::Mailer,
    input: SignUp,
    now: OffsetDateTime,
) -> Result<SignedUp, Error> {
    let pool = mailer.pool();
    let hash = crate::auth::password::hash(&input.password).await?;
    let started = std::time::Instant::now();
    let mut tx = pool.begin().await?;
    if let Some(client) = &input.client {
        limits::reserve(&mut tx, limits::Action::SignUpFromClient, client, now).await??;
    }
    let user = users::create(&mut tx, &input.email, &hash, input.lang, None, now).await?;
    let ico_shared: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM app.tenants WHERE ico = $1)")
            .bind(input.ico.as_str())
            .fetch_one(&mut *tx)
            .await?;
    let provision_started = std::time::Instant::now();
    let (tenant, provisioned) =
        tenant::provision(&mut tx, input.club.as_str(), input.ico.as_str()).await?;
    let provision_us = provision_started.elapsed().as_micros() as u64;
    crate::team::memberships::add_teammate(&mut tx, &tenant, user.id, Role::Owner, now).await?;
    let token = tokens::issue(&mut tx, tokens::Purpose::ConfirmEmail, user.id, now).await?;
    mail::outbox::enqueue(
        &mut tx,
        &mail::templates::confirm_email(input.lang, &mailer.links().confirm_email(&token)),
        &input.email,
        None,
        now,
    )
    .await?;
    tx.commit().await?;
    // The figures of the scale benchmark (`examples/bench_scale.rs`): the schema's creation (a
    // claimed spare or inline), and the sign-up transaction from BEGIN to its committed end (the
    // password hash excluded).
    tracing::debug!(
        claimed = provisioned == tenant::Provisioned::Claimed,
        provision_us,
        transaction_us = started.elapsed().as_micros() as u64,
        "club provisioned"
    );
    mailer.wake();
    tracing::Span::current()
        .record("club", tracing::field::display(tenant.key()))
        .record("user_id", tracing::field::display(user.id));
    // The audit entry goes to the club's own schema, after the club exists.
    let mut ttx = TenantTx::begin(pool, &tenant).await?;
    audit::record(
        &mut ttx,
        &Actor::person(&user),
        "club.created",
        json!({ "name": input.club.as_str(), "ico": input.ico.as_str() }),
        now,
    )
    .await?;
    ttx.commit().await?;
    Ok(SignedUp {
        user,
        tenant,
        ico_shared,
    })
}

/// A signed-in person creates another club and becomes its owner. Needs a confirmed address;
/// capped at [`limits::MAX_OWNED_CLUBS`] owned clubs and the [`limits::Action::ClubCreated`]
/// rate (each club is a schema: creating them is not free).
#[tracing::instrument(skip_all, fields(club = tracing::field::Empty, user_id = %user.id))]
pub async fn create_additional(
    pool: &PgPool,
    user: &User,
    name: &ClubName,
    ico: &Ico,
    now: OffsetDateTime,
) -> Result<Tenant, Error> {
    if !user.email_confirmed {
        return Err(Error::EmailNotConfirmed);
    }
    let mut tx = pool.begin().await?;
    let subject = user.id.to_string();
    limits::reserve(&mut tx, limits::Action::ClubCreated, &subject, now).await??;
    let (owned,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM app.memberships WHERE user_id = $1 AND role = 'owner'",
    )
    .bind(user.id)
    .fetch_one(&mut *tx)
    .await?;
    if owned >= limits::MAX_OWNED_CLUBS {
        return Err(Error::TooMany);
    }
    let (tenant, _) = tenant::provision(&mut tx, name.as_str(), ico.as_str()).await?;
    crate::team::memberships::add_teammate(&mut tx, &tenant, user.id, Role::Owner, now).await?;
    tx.commit().await?;
    tracing::Span::current().record("club", tracing::field::display(tenant.key()));
    let mut ttx = TenantTx::begin(pool, &tenant).await?;
    audit::record(
        &mut ttx,
        &Actor::person(user),
        "club.created",
        json!({ "name": name.as_str(), "ico": ico.as_str() }),
        now,
    )
    .await?;
    ttx.commit().await?;
    Ok(tenant)
}

/// The person with id `user` and the active clubs they belong to (by name), in one round trip:
/// every signed-in request runs it (`web::context::load`), and the club guard and the club
/// switcher read the clubs from its answer instead of asking again. `None` if the account is
/// gone.
pub async fn person_with_clubs(
    pool: &PgPool,
    user: crate::auth::UserId,
) -> Result<Option<(User, Vec<ClubSummary>)>, sqlx::Error> {
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: users::UserRow,
        tenant_id: Option<uuid::Uuid>,
        schema_name: Option<String>,
        name: Option<String>,
        ico: Option<String>,
        role: Option<String>,
    }
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT u.*, t.id AS tenant_id, t.schema_name, t.name, t.ico, m.role \
           FROM (SELECT {} FROM app.users WHERE id = $1) u \
           LEFT JOIN (app.memberships m JOIN app.tenants t \
                        ON t.id = m.tenant_id AND t.status = 'active') \
             ON m.user_id = u.id \
          ORDER BY t.name, t.id",
        users::COLUMNS
    ))
    .bind(user)
    .fetch_all(pool)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let person = users::User::from(first.user.clone());
    let clubs = rows
        .into_iter()
        .filter_map(|row| {
            Some(ClubSummary {
                tenant: Tenant::from_row(row.tenant_id?, row.schema_name.as_deref()?)?,
                name: row.name?,
                ico: row.ico?,
                role: Role::parse(row.role.as_deref()?)?,
            })
        })
        .collect();
    Ok(Some((person, clubs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ico_checksum_is_verified() {
        // Komerční banka, a.s. and Český svaz ledního hokeje.
        assert!(Ico::parse("45317054").is_some());
        assert!(Ico::parse("00536245").is_some());
        assert!(Ico::parse("453 170 54").is_some());
        assert!(Ico::parse("45317055").is_none());
        assert!(Ico::parse("4531705a").is_none());
        assert!(Ico::parse("453170541").is_none());
        assert!(Ico::parse("").is_none());
    }

    #[test]
    fn club_names_are_trimmed_and_bounded() {
        assert_eq!(
            ClubName::parse("  TJ Sokol Brno ").map(|n| n.0),
            Some("TJ Sokol Brno".into())
        );
        assert!(ClubName::parse("   ").is_none());
        assert!(ClubName::parse(&"x".repeat(201)).is_none());
    }
}
