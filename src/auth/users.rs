//! People's accounts (`app.users`): create, find, confirm e-mail, change password.

use super::{Email, Error, UserId};
use crate::i18n::Lang;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// A person's account as the application sees it (the password hash stays in the database
/// layer except when verifying).
#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub email_confirmed: bool,
    pub lang: Lang,
    pub session_epoch: i32,
}

/// An `app.users` row as [`COLUMNS`] selects it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct UserRow {
    id: UserId,
    email: String,
    email_confirmed_at: Option<OffsetDateTime>,
    locale: String,
    session_epoch: i32,
}

impl From<UserRow> for User {
    fn from(row: UserRow) -> User {
        User {
            id: row.id,
            email: Email::from_stored(row.email),
            email_confirmed: row.email_confirmed_at.is_some(),
            lang: Lang::from_code(&row.locale).unwrap_or_default(),
            session_epoch: row.session_epoch,
        }
    }
}

/// The columns of [`UserRow`], for `SELECT`s of `app.users`.
pub(crate) const COLUMNS: &str = "id, email, email_confirmed_at, locale, session_epoch";

/// Creates an account in the caller's transaction; [`Error::EmailTaken`] if the address is
/// registered already.
pub async fn create(
    conn: &mut PgConnection,
    email: &Email,
    password_hash: &str,
    lang: Lang,
    confirmed_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<User, Error> {
    let row: Result<UserRow, sqlx::Error> = sqlx::query_as(&format!(
        "INSERT INTO app.users (id, email, password_hash, email_confirmed_at, locale, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    ))
    .bind(Uuid::now_v7())
    .bind(email.as_str())
    .bind(password_hash)
    .bind(confirmed_at)
    .bind(lang.code())
    .bind(now)
    .fetch_one(conn)
    .await;
    match row {
        Ok(row) => Ok(User::from(row)),
        Err(sqlx::Error::Database(e)) if e.constraint() == Some("users_email_key") => {
            Err(Error::EmailTaken)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn find(pool: &PgPool, id: UserId) -> Result<Option<User>, sqlx::Error> {
    let row: Option<UserRow> =
        sqlx::query_as(&format!("SELECT {COLUMNS} FROM app.users WHERE id = $1"))
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(User::from))
}

/// The account and its password hash, for verifying a login.
pub async fn find_for_login(
    pool: &PgPool,
    email: &Email,
) -> Result<Option<(User, String)>, sqlx::Error> {
    let row: Option<(UserId, String, Option<OffsetDateTime>, String, i32, String)> =
        sqlx::query_as(
            "SELECT id, email, email_confirmed_at, locale, session_epoch, password_hash \
         FROM app.users WHERE lower(email) = $1",
        )
        .bind(email.as_str())
        .fetch_optional(pool)
        .await?;
    Ok(row.map(
        |(id, email, email_confirmed_at, locale, session_epoch, hash)| {
            let row = UserRow {
                id,
                email,
                email_confirmed_at,
                locale,
                session_epoch,
            };
            (User::from(row), hash)
        },
    ))
}

pub async fn find_by_email(pool: &PgPool, email: &Email) -> Result<Option<User>, sqlx::Error> {
    Ok(find_for_login(pool, email).await?.map(|(user, _)| user))
}

pub async fn password_hash(pool: &PgPool, id: UserId) -> Result<Option<String>, sqlx::Error> {
    let row: Option<(String,)> =
        sqlx::query_as("SELECT password_hash FROM app.users WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(row.map(|(h,)| h))
}

pub async fn mark_email_confirmed(
    conn: &mut PgConnection,
    id: UserId,
    now: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE app.users SET email_confirmed_at = coalesce(email_confirmed_at, $2) WHERE id = $1",
    )
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Replaces the password, ends every session of the account (the epoch moves on) and, in the
/// same transaction (the caller's), uses up every outstanding reset link of the person: a link
/// mailed before the change must not undo it. Returns the new epoch, which the caller's own
/// session adopts if it should stay signed in.
pub async fn set_password(
    conn: &mut PgConnection,
    id: UserId,
    password_hash: &str,
) -> Result<i32, sqlx::Error> {
    let (epoch,): (i32,) = sqlx::query_as(
        "UPDATE app.users SET password_hash = $2, session_epoch = session_epoch + 1 \
         WHERE id = $1 RETURNING session_epoch",
    )
    .bind(id)
    .bind(password_hash)
    .fetch_one(&mut *conn)
    .await?;
    super::tokens::revoke_all(conn, super::tokens::Purpose::ResetPassword, id).await?;
    Ok(epoch)
}

pub async fn set_lang(
    pool: &PgPool,
    id: UserId,
    lang: crate::i18n::Lang,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE app.users SET locale = $2 WHERE id = $1")
        .bind(id)
        .bind(lang.code())
        .execute(pool)
        .await?;
    Ok(())
}
