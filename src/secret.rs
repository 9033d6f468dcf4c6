//! `Secret<T>`: a wrapper for API keys, client secrets, passwords and tokens that keeps them out
//! of `Debug` output (and therefore out of logs and error messages). It has no `Display` and no
//! `Serialize`; reading the value takes an explicit [`Secret::expose`].

use std::fmt;

use serde::{Deserialize, Deserializer};

/// A value that must never be printed. `Debug` shows `[redacted]`.
#[derive(Clone, Default)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a secret value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// Borrows the secret value. Use only where the value is sent to KB or stored.
    pub fn expose(&self) -> &T {
        &self.0
    }

    /// Unwraps the secret value (e.g. to store it encrypted).
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl Secret<String> {
    /// The secret as a string slice.
    pub fn expose_str(&self) -> &str {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret<String> {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret<String> {
    fn from(value: &str) -> Self {
        Self(value.to_owned())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Secret<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        T::deserialize(deserializer).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let secret = Secret::from("hunter2");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(secret.clone())), "Some([redacted])");
        assert_eq!(secret.expose_str(), "hunter2");
    }
}
