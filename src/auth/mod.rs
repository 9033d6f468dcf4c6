//! People and their credentials: accounts, passwords, one-time tokens, login throttling.
//!
//! Owns `app.users`, `app.one_time_tokens`, `app.login_attempts` and `app.operators`. Knows nothing about HTTP:
//! the web layer turns form fields into the validated types here ([`Email`],
//! [`password::NewPassword`]) and maps the named outcomes back to pages.

pub mod email;
pub mod login;
pub mod operators;
pub mod password;
pub mod recovery;
pub mod throttle;
pub mod tokens;
pub mod users;

pub use email::Email;
pub use users::{User, UserId};
