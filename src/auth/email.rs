//! A validated, normalised e-mail address.

use std::fmt;

/// An e-mail address, trimmed and lowercased. Parse, don't validate: holding one proves the
/// shape check happened.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(input: &str) -> Option<Email> {
        let value = input.trim().to_lowercase();
        if value.len() < 3 || value.len() > 254 {
            return None;
        }
        if value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "<>()[],;:\"\\".contains(c))
        {
            return None;
        }
        let (local, domain) = value.rsplit_once('@')?;
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return None;
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2
            || labels
                .iter()
                .any(|l| l.is_empty() || l.starts_with('-') || l.ends_with('-'))
        {
            return None;
        }
        Some(Email(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Builds the value from a stored (already validated) address.
    pub fn from_stored(value: String) -> Email {
        Email(value)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Email({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Email;

    #[test]
    fn addresses_are_normalised_and_bad_ones_refused() {
        assert_eq!(
            Email::parse("  Pokladnik@Sokol-Brno.CZ ").map(|e| e.to_string()),
            Some("pokladnik@sokol-brno.cz".to_owned())
        );
        for bad in [
            "",
            "a@b",
            "no-at.cz",
            "two words@x.cz",
            "x@-bad.cz",
            "x@y..cz",
            "@x.cz",
        ] {
            assert!(Email::parse(bad).is_none(), "{bad} accepted");
        }
    }
}
