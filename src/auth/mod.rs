//! People and their credentials: accounts, passwords, one-time tokens, login throttling, and the
//! journeys of a person's own account (confirm the address, reset or change the password).
//!
//! Owns `app.users`, `app.one_time_tokens`, `app.login_attempts` and `app.operators`. Knows nothing about HTTP:
//! the web layer turns form fields into the validated types here ([`Email`],
//! [`password::NewPassword`]) and maps the named outcomes back to pages.

pub mod account;
pub mod email;
pub mod login;
pub mod operators;
pub mod password;
pub mod recovery;
pub mod throttle;
pub mod tokens;
pub mod users;

pub use email::Email;
pub use users::User;

uuid_newtype!(
    /// A person's account (row of `app.users`); the session keeps it. Declared here, not in
    /// `users`, because `tokens` needs it and `users` needs `tokens`.
    UserId
);

/// Modules that still keep a person's id as a bare UUID can compare it with one.
impl PartialEq<UserId> for uuid::Uuid {
    fn eq(&self, other: &UserId) -> bool {
        *self == other.0
    }
}

/// Why an account change did not happen. The outcomes of a journey a person can act on are its
/// own enum ([`recovery::Reset`], [`account::PasswordChange`]); this is what is left.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Creating an account: the address is registered already.
    #[error("e-mail already registered")]
    EmailTaken,
    #[error(transparent)]
    Hash(#[from] password::HashError),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}
