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

    /// All messages, for the summary at the top of a form.
    pub fn all(&self) -> Vec<&str> {
        self.messages.values().map(String::as_str).collect()
    }
}
