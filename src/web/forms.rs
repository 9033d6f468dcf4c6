//! Field errors for forms that re-render with messages (status 422).

use crate::i18n::Lang;
use std::collections::BTreeMap;

/// Translated messages per form field; empty when the form is fine.
#[derive(Debug, Default, Clone)]
pub struct FieldErrors {
    lang: Lang,
    messages: BTreeMap<&'static str, String>,
}

impl FieldErrors {
    pub fn new(lang: Lang) -> Self {
        Self {
            lang,
            messages: BTreeMap::new(),
        }
    }

    /// Records the message with translation key `key` for `field` (the first one wins).
    pub fn add(&mut self, field: &'static str, key: &str) {
        let text = self.lang.t(key).into_owned();
        self.messages.entry(field).or_insert(text);
    }

    /// Records an already translated message for `field` (the first one wins).
    pub fn add_text(&mut self, field: &'static str, text: String) {
        self.messages.entry(field).or_insert(text);
    }

    pub fn msg(&self, field: &str) -> Option<&str> {
        self.messages.get(field).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.messages.is_empty()
    }

    /// The attributes of a form control for `field`, so every field with an error is marked the
    /// same way (red border, announced, focused first by `kasa.js`): ` aria-invalid="true"
    /// aria-describedby="<error_id> <hint>"` with an error, else ` aria-describedby="<hint>"`
    /// (nothing without a hint). `error_id` is the id of the field's `.field-error` paragraph;
    /// ids are fixed template text, never user input.
    pub fn attrs(&self, field: &str, error_id: &str, hint: &str) -> String {
        let described: Vec<&str> = [
            self.messages.contains_key(field).then_some(error_id),
            (!hint.is_empty()).then_some(hint),
        ]
        .into_iter()
        .flatten()
        .collect();
        let mut out = String::new();
        if self.messages.contains_key(field) {
            out.push_str(" aria-invalid=\"true\"");
        }
        if !described.is_empty() {
            out.push_str(&format!(" aria-describedby=\"{}\"", described.join(" ")));
        }
        out
    }

    /// All messages, for the summary at the top of a form.
    pub fn all(&self) -> Vec<&str> {
        self.messages.values().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_with_an_error_is_invalid_and_described_by_its_error_and_hint() {
        let mut errors = FieldErrors::new(Lang::Cs);
        errors.add("amount", "members.err.bad_amount");
        assert_eq!(
            errors.attrs("amount", "amount-error", "amount-help"),
            r#" aria-invalid="true" aria-describedby="amount-error amount-help""#
        );
        assert_eq!(
            errors.attrs("name", "name-error", "name-help"),
            r#" aria-describedby="name-help""#
        );
        assert_eq!(errors.attrs("name", "name-error", ""), "");
    }
}
