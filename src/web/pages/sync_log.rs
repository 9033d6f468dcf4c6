//! The sync log in words (issue 10, item 8): a run of `sync_runs` ("first", "synced",
//! "+2061 / ~0 (2061)", KB's error text) read as a sentence in the reader's language ("První
//! stažení historie: 2 061 nových pohybů."). KB's own error text and the reconciliation's
//! numbers stay available, folded away, as the technical detail.

use crate::i18n::Lang;
use crate::sync::views::RunRow;

/// One sync run as the account page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunText {
    /// What happened, one sentence.
    pub sentence: String,
    /// KB's error text and the reconciliation, as stored (empty when there is none).
    pub detail: String,
}

/// `run` in words, in `lang`.
pub fn describe(run: &RunRow, lang: Lang) -> RunText {
    let trigger = lang.t(&format!("bank.run.trigger.{}", run.trigger.as_str()));
    let outcome = lang.t(&format!("bank.run.outcome.{}", run.outcome.as_str()));
    let mut parts = vec![format!("{trigger}: {outcome}")];
    if run.inserted > 0 || run.updated > 0 {
        let mut counts = Vec::new();
        if run.inserted > 0 {
            counts.push(lang.t_count("bank.run.inserted", i64::from(run.inserted)));
        }
        if run.updated > 0 {
            counts.push(lang.t_count("bank.run.updated", i64::from(run.updated)));
        }
        parts.push(counts.join(", "));
    } else if matches!(run.outcome.as_str(), "synced" | "unchanged" | "partial") {
        parts.push(lang.t("bank.run.nothing_new").into_owned());
    }
    match run.reconciliation.as_deref() {
        Some(r) if r.starts_with("ok") => parts.push(lang.t("bank.run.balance_ok").into_owned()),
        Some(_) => parts.push(lang.t("bank.run.balance_mismatch").into_owned()),
        None => {}
    }
    let mut sentence = parts.join(" · ");
    sentence.push('.');
    let detail = [run.error.as_deref(), run.reconciliation.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("; ");
    RunText { sentence, detail }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::outcome::{RunOutcome, Trigger};

    fn run(trigger: Trigger, outcome: RunOutcome, inserted: i32, updated: i32) -> RunRow {
        RunRow {
            started_at: time::OffsetDateTime::UNIX_EPOCH,
            finished_at: None,
            trigger,
            fetched: inserted + updated,
            inserted,
            updated,
            outcome,
            error: None,
            reconciliation: None,
        }
    }

    #[test]
    fn a_first_sync_reads_as_a_sentence_with_czech_plurals() {
        let first = describe(&run(Trigger::First, RunOutcome::Synced, 2061, 0), Lang::Cs);
        assert_eq!(
            first.sentence,
            "První stažení historie: hotovo · 2061 nových pohybů."
        );
        assert_eq!(first.detail, "");
        let two = describe(
            &run(Trigger::Notification, RunOutcome::Synced, 2, 1),
            Lang::Cs,
        );
        assert_eq!(
            two.sentence,
            "Po oznámení banky: hotovo · 2 nové pohyby, 1 změněný pohyb."
        );
        let en = describe(
            &run(Trigger::Schedule, RunOutcome::Unchanged, 0, 0),
            Lang::En,
        );
        assert_eq!(en.sentence, "Regular check: no changes · nothing new.");
    }

    #[test]
    fn kbs_error_text_is_the_folded_detail_not_the_sentence() {
        let mut failed = run(Trigger::Retry, RunOutcome::Failed, 0, 0);
        failed.error = Some("HTTP 503 from /accounts/x/transactions".to_owned());
        failed.reconciliation = Some("mismatch 2026-11-01..2026-11-30: …".to_owned());
        let text = describe(&failed, Lang::Cs);
        assert!(!text.sentence.contains("HTTP"), "{}", text.sentence);
        assert!(text.sentence.contains("nesedí"), "{}", text.sentence);
        assert!(text.detail.starts_with("HTTP 503"), "{}", text.detail);
    }

    #[test]
    fn every_trigger_and_outcome_has_words_in_both_languages() {
        let triggers = ["first", "schedule", "notification", "retry"];
        let outcomes = [
            "synced",
            "partial",
            "unchanged",
            "blocked",
            "rate_limited",
            "failed",
            "disabled",
        ];
        for lang in [Lang::Cs, Lang::En] {
            for key in triggers
                .iter()
                .map(|t| format!("bank.run.trigger.{t}"))
                .chain(outcomes.iter().map(|o| format!("bank.run.outcome.{o}")))
            {
                assert_ne!(lang.t(&key), key, "{key} in {lang:?}");
            }
        }
    }
}
