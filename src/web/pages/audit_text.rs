//! The audit log's details in words (issue 10, item 8): what `audit::record` stored as JSON
//! (`{"new_account": true, "role": "treasurer"}`) read as a phrase ("jako pokladník · nový
//! účet"), in the reader's language. The JSON itself stays available, folded away, on the page.
//!
//! Each action has a phrase `audit.detail.<action>` in the locales with `%{key}` placeholders
//! named after the details' keys; values are put in words by what they are: roles, VS schemes
//! and reasons by their own labels, amounts (`amount_minor`) as money, ISO dates the Czech way,
//! counts with grouping, the changed fields of a member by their form labels, and a `true` flag
//! as its own short text (`audit.flag.<key>`). An action without a phrase lists its details as
//! "label: value".

use serde_json::Value;

use crate::i18n::{self, Lang};

/// The details of an entry with `action` (e.g. `team.joined`) as a phrase in `lang`; empty when
/// there is nothing to say.
pub(super) fn describe(action: &str, details: &Value, lang: Lang) -> String {
    let Some(fields) = details.as_object() else {
        return String::new();
    };
    let args: Vec<(&str, String)> = fields
        .iter()
        .map(|(key, value)| (key.as_str(), words(key, value, lang)))
        .collect();
    let key = format!("audit.detail.{action}");
    let phrase = lang.t(&key);
    if phrase != key {
        let args: Vec<(&str, &str)> = args.iter().map(|(k, v)| (*k, v.as_str())).collect();
        return tidy(&i18n::fill(&phrase, &args));
    }
    args.iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{}: {v}", label(k, lang)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One detail's value in words ("" for what a reader has no use for, such as ids).
fn words(key: &str, value: &Value, lang: Lang) -> String {
    match value {
        Value::Null => lang.t("audit.value.none").into_owned(),
        Value::Bool(true) => lang.t(&format!("audit.flag.{key}")).into_owned(),
        Value::Bool(false) => {
            let key = format!("audit.flag_off.{key}");
            let text = lang.t(&key);
            if text == key {
                String::new()
            } else {
                text.into_owned()
            }
        }
        Value::Number(n) => match (key, n.as_i64()) {
            ("amount_minor", Some(minor)) => i18n::format_money(minor, "CZK", lang),
            (_, Some(_)) if is_id(key) => String::new(),
            (_, Some(n)) => i18n::format_count(n, lang),
            _ => n.to_string(),
        },
        Value::String(_) if is_id(key) => String::new(),
        Value::String(s) => text(key, s, lang),
        Value::Array(items) if key == "changed" => items
            .iter()
            .filter_map(Value::as_str)
            .map(|field| lowercase_first(&label(field, lang)))
            .collect::<Vec<_>>()
            .join(", "),
        Value::Array(_) | Value::Object(_) => String::new(),
    }
}

/// A string detail in words: a role, VS scheme or reason by its label, an ISO date the local
/// way, anything else as it is.
fn text(key: &str, s: &str, lang: Lang) -> String {
    let labelled = match key {
        "role" | "from" | "to" if ["owner", "treasurer", "viewer"].contains(&s) => {
            Some(format!("role.{s}"))
        }
        "scheme" => Some(format!("members.scheme.{s}")),
        "reason" => Some(format!("audit.reason.{s}")),
        "balance" => Some(format!("watch.kind.{s}")),
        _ => None,
    };
    if let Some(k) = labelled {
        let t = lang.t(&k);
        if t != k {
            return t.into_owned();
        }
    }
    let iso = time::macros::format_description!("[year]-[month]-[day]");
    if let Ok(day) = time::Date::parse(s, &iso) {
        return i18n::format_day(day, lang);
    }
    match time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        Ok(at) => i18n::format_datetime(at, lang),
        Err(_) => s.to_owned(),
    }
}

/// Keys that hold ids (of a member, payment, …): never shown in words.
fn is_id(key: &str) -> bool {
    matches!(
        key,
        "member"
            | "payment"
            | "household"
            | "schedule"
            | "undone"
            | "target"
            | "values"
            | "account"
    )
}

/// A detail's or a member field's label: the member form's label when there is one, else
/// `audit.key.<key>`, else the key.
fn label(key: &str, lang: Lang) -> String {
    for k in [format!("members.field.{key}"), format!("audit.key.{key}")] {
        let t = lang.t(&k);
        if t != k {
            return t.into_owned();
        }
    }
    key.to_owned()
}

/// "E-mail" → "e-mail": a label inside a phrase.
fn lowercase_first(label: &str) -> String {
    let mut chars = label.chars();
    chars
        .next()
        .map(|first| first.to_lowercase().chain(chars).collect())
        .unwrap_or_default()
}

/// The phrase without the separators an empty value left behind (" · " at the end, ", ,").
fn tidy(phrase: &str) -> String {
    let mut out = phrase.trim().to_owned();
    for sep in [" ·", ",", ":"] {
        while out.ends_with(sep) {
            out.truncate(out.len() - sep.len());
            out = out.trim_end().to_owned();
        }
    }
    out.replace(" ·  · ", " · ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_teammate_joining_reads_as_a_phrase_not_json() {
        let details = json!({ "new_account": true, "role": "treasurer" });
        assert_eq!(
            describe("team.joined", &details, Lang::Cs),
            "jako pokladník · nový účet"
        );
        assert_eq!(
            describe("team.joined", &details, Lang::En),
            "as treasurer · new account"
        );
        let existing = json!({ "new_account": false, "role": "viewer" });
        assert_eq!(
            describe("team.joined", &existing, Lang::Cs),
            "jako prohlížející"
        );
    }

    #[test]
    fn dates_money_roles_and_changed_fields_are_in_words_and_ids_are_left_out() {
        assert_eq!(
            describe(
                "team.role_changed",
                &json!({ "email": "eva@oddil.cz", "from": "viewer", "to": "treasurer" }),
                Lang::Cs
            ),
            "eva@oddil.cz: prohlížející → pokladník"
        );
        assert_eq!(
            describe(
                "bank.connected",
                &json!({ "expires": "2027-11-30" }),
                Lang::Cs
            ),
            "souhlas platí do 30.\u{a0}11.\u{a0}2027"
        );
        let edited = describe(
            "member.updated",
            &json!({ "member": "0191", "name": "Jana Nová", "changed": ["emails", "groups"] }),
            Lang::Cs,
        );
        assert!(!edited.contains("0191"), "{edited}");
        assert_eq!(edited, "Jana Nová: změněno e-mail, skupiny");
        let assigned = describe(
            "payment.assign",
            &json!({ "payment": 42, "amount_minor": 150_000, "target": { "member": "x" } }),
            Lang::Cs,
        );
        assert!(assigned.contains("1\u{a0}500"), "{assigned}");
        assert!(!assigned.contains("42"), "{assigned}");
    }

    #[test]
    fn a_reminder_batch_and_a_members_switch_read_as_phrases() {
        let batch = describe(
            "reminder.batch_sent",
            &json!({ "batch": "0191", "mails": 12, "excluded": 1,
                     "fresh_as_of": "2026-11-24T13:05:00Z" }),
            Lang::Cs,
        );
        assert_eq!(
            batch,
            "odesláno: 12, vynecháno: 1, platby započítané do 24.\u{a0}11.\u{a0}2026\u{a0}14:05"
        );
        assert_eq!(
            describe(
                "reminder.member_switched",
                &json!({ "member": "x", "on": false }),
                Lang::Cs
            ),
            "připomínky vypnuty"
        );
    }

    #[test]
    fn an_action_without_a_phrase_lists_its_details_by_label() {
        assert_eq!(
            describe(
                "something.new",
                &json!({ "phone": "777 123 456", "member": "x" }),
                Lang::Cs
            ),
            "Telefon: 777 123 456"
        );
    }

    #[test]
    fn every_recorded_action_has_a_phrase_in_both_languages() {
        let actions = [
            "club.created",
            "team.invited",
            "team.joined",
            "team.invitation_revoked",
            "team.role_changed",
            "team.removed",
            "bank.connected",
            "bank.renewed",
            "bank.disconnected",
            "bank.history_deleted",
            "bank.watch_set",
            "bank.watch_removed",
            "payment.assign",
            "payment.confirm",
            "payment.unmatch",
            "payment.irrelevant",
            "payment.restore",
            "payment.undo",
            "payment.rerun",
            "fee.schedule_saved",
            "fee.payments_from_changed",
            "member.created",
            "member.updated",
            "member.archived",
            "member.restored",
            "member.imported",
            "member.household_created",
            "member.vs_scheme_changed",
            "member.pay_link_issued",
            "member.pay_link_revoked",
            "member.pay_link_sent",
            "reminder.batch_sent",
            "reminder.settings_saved",
            "reminder.member_switched",
        ];
        for action in actions {
            for lang in [Lang::Cs, Lang::En] {
                let key = format!("audit.detail.{action}");
                assert_ne!(lang.t(&key), key, "{action} in {lang:?}");
            }
        }
    }
}
