//! One-time tokens of "create" forms (a new member, a new fee schedule): the form carries a
//! random token, the created row stores it (`UNIQUE`), and a second submit of the same form
//! finds the first result instead of creating a twin (a double click, a resent request).

use rand::RngCore;

/// 128 random bits as 32 lowercase hex characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FormToken(String);

impl FormToken {
    /// A fresh token for a form about to be shown.
    pub fn new() -> FormToken {
        let mut bytes = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut bytes);
        FormToken(hex::encode(bytes))
    }

    /// The token a form sent back: exactly 32 lowercase hex characters, else `None` (a missing
    /// or altered token only loses the double-submit protection, it is never an error).
    pub fn parse(text: &str) -> Option<FormToken> {
        let text = text.trim();
        (text.len() == 32
            && text
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| FormToken(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for FormToken {
    fn default() -> Self {
        FormToken::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_token_reads_back_and_anything_else_is_no_token() {
        let token = FormToken::new();
        assert_eq!(FormToken::parse(token.as_str()), Some(token.clone()));
        assert_ne!(FormToken::new(), token);
        for text in ["", "abc", &"G".repeat(32), &"A".repeat(32), &"a".repeat(33)] {
            assert_eq!(FormToken::parse(text), None, "{text:?}");
        }
    }
}
