//! A signed-in person's changes to their own account: the password change.

use super::login::{self, Checked};
use super::password::{self, NewPassword};
use super::{Error, User, users};
use crate::mail::{self, Mailer};
use time::OffsetDateTime;

/// How a password change ended.
#[derive(Debug)]
pub enum PasswordChange {
    /// The password is changed, every session of the person ended, every reset link used up and
    /// a notice mailed. The person, with the new session epoch: the session that asked adopts it
    /// to stay signed in.
    Changed(User),
    /// Nothing changed. `current`: the check of the current password (`Checked::Ok` when only
    /// the new one was refused); `password`: why the new password was refused.
    Refused {
        current: Checked<()>,
        password: Option<password::Problem>,
    },
}

/// Changes `user`'s password: the current one is checked under the re-entry throttle (from
/// client address `client`) and the new one against the policy, both always, so the form can
/// name every problem at once.
pub async fn change_password(
    mailer: &Mailer,
    user: &User,
    current: &str,
    new_password: &str,
    client: Option<&str>,
    now: OffsetDateTime,
) -> Result<PasswordChange, Error> {
    let pool = mailer.pool();
    let current = login::reauthenticate(pool, user.id, current, client, now).await?;
    let parsed = NewPassword::parse(new_password, Some(user.email.as_str()));
    let new = match (&current, parsed) {
        (Checked::Ok(()), Ok(new)) => new,
        (_, parsed) => {
            return Ok(PasswordChange::Refused {
                current,
                password: parsed.err(),
            });
        }
    };
    let hash = password::hash(&new).await?;
    let mut tx = pool.begin().await?;
    let epoch = users::set_password(&mut tx, user.id, &hash).await?;
    let message = mail::templates::password_changed(user.lang, &mailer.links().home());
    mail::outbox::enqueue(&mut tx, &message, &user.email, None, now).await?;
    tx.commit().await?;
    mailer.wake();
    let mut user = user.clone();
    user.session_epoch = epoch;
    Ok(PasswordChange::Changed(user))
}
