//! The e-mails Kasa sends, in the recipient's language (texts in `locales/app.yml`).

use super::Message;
use crate::i18n::Lang;

pub fn confirm_email(lang: Lang, link: &str) -> Message {
    Message {
        subject: lang.t("mail.confirm.subject").into_owned(),
        body: lang.t_with("mail.confirm.body", &[("link", link)]),
    }
}

pub fn reset_password(lang: Lang, link: &str) -> Message {
    Message {
        subject: lang.t("mail.reset.subject").into_owned(),
        body: lang.t_with("mail.reset.body", &[("link", link)]),
    }
}

pub fn password_changed(lang: Lang, home: &str) -> Message {
    Message {
        subject: lang.t("mail.password_changed.subject").into_owned(),
        body: lang.t_with("mail.password_changed.body", &[("link", home)]),
    }
}

/// What an invitation e-mail says: who (the inviting person's address) invites whom (the
/// invited address) to which club with which role.
#[derive(Debug, Clone, Copy)]
pub struct Invitation<'a> {
    pub club: &'a str,
    pub inviter: &'a str,
    pub invitee: &'a str,
    /// Translation key of the role's name (`team::Role::label_key`).
    pub role_key: &'a str,
    pub link: &'a str,
}

/// The invitation e-mail. The club's name is the owner's text: it is made [`inert`].
pub fn invitation(lang: Lang, invitation: &Invitation<'_>) -> Message {
    let role = lang.t(invitation.role_key);
    let club = inert(invitation.club);
    let args = [
        ("club", club.as_str()),
        ("inviter", invitation.inviter),
        ("invitee", invitation.invitee),
        ("role", &role),
        ("link", invitation.link),
    ];
    filled(lang, "mail.invite", &args)
}

/// A reminder of member fees to a member or a household's guardian. Every value is already
/// formatted in `lang`; the club's, members' and schedules' names are made [`inert`] here.
#[derive(Debug, Clone, Copy)]
pub struct FeeReminder<'a> {
    pub club: &'a str,
    /// The member's or household's name.
    pub payer: &'a str,
    /// Something is due or overdue (else the due date is still ahead).
    pub overdue: bool,
    /// One line per open charge counted: `(what, amount, due date)`.
    pub lines: &'a [(String, String, String)],
    /// Credit already deducted from the total, if any.
    pub credit: Option<&'a str>,
    pub total: &'a str,
    /// The club's account (IBAN, grouped) and the variable symbol to pay with.
    pub account: &'a str,
    pub variable_symbol: &'a str,
    /// The member's own page.
    pub link: &'a str,
    /// Payments received up to this instant are counted (`24. 11. 2026 14:05`).
    pub counted_until: &'a str,
}

/// The reminder e-mail (the QR code goes with it as an inline image).
pub fn fee_reminder(lang: Lang, r: &FeeReminder<'_>) -> Message {
    let club = inert(r.club);
    let payer = inert(r.payer);
    let lines: Vec<String> = r
        .lines
        .iter()
        .map(|(what, amount, due)| {
            lang.t_with(
                "mail.reminder.line",
                &[("what", &inert(what)), ("amount", amount), ("due", due)],
            )
        })
        .collect();
    let credit = r
        .credit
        .map(|c| lang.t_with("mail.reminder.credit", &[("amount", c)]))
        .unwrap_or_default();
    let intro = if r.overdue {
        "mail.reminder.intro_overdue"
    } else {
        "mail.reminder.intro_upcoming"
    };
    let args = [
        ("club", club.as_str()),
        ("payer", payer.as_str()),
        ("total", r.total),
        ("account", r.account),
        ("vs", r.variable_symbol),
        ("link", r.link),
        ("until", r.counted_until),
    ];
    let body = [
        lang.t_with(intro, &args),
        lines.join("\n"),
        credit,
        lang.t_with("mail.reminder.body", &args),
    ]
    .into_iter()
    .filter(|part| !part.is_empty())
    .collect::<Vec<_>>()
    .join("\n\n");
    let subject = if r.overdue {
        "mail.reminder.subject_overdue"
    } else {
        "mail.reminder.subject_upcoming"
    };
    Message {
        subject: lang.t_with(subject, &args),
        body,
    }
}

/// The member's own link, sent by the treasurer from the member's page.
pub fn pay_link(lang: Lang, club: &str, member: &str, link: &str) -> Message {
    let club = inert(club);
    let member = inert(member);
    let args = [
        ("club", club.as_str()),
        ("member", member.as_str()),
        ("link", link),
    ];
    filled(lang, "mail.pay_link", &args)
}

/// The thank-you to a member who paid after a reminder: `amount` and `date` formatted.
pub fn fee_thank_you(lang: Lang, club: &str, amount: &str, date: &str) -> Message {
    let club = inert(club);
    let args = [("club", club.as_str()), ("amount", amount), ("date", date)];
    filled(lang, "mail.thank_you", &args)
}

/// One payment in a "payment received" e-mail: "Jan Novák zaplatil(a) 1 500 Kč za …".
/// `paid_for`: what it paid, formatted (`None`: it all went to credit).
pub fn payment_line(
    lang: Lang,
    name: &str,
    amount: &str,
    paid_for: Option<&str>,
    date: &str,
) -> String {
    let paid_for = match paid_for {
        Some(what) => lang.t_with("mail.received.for", &[("what", &inert(what))]),
        None => lang.t("mail.received.as_credit").into_owned(),
    };
    lang.t_with(
        "mail.received.line",
        &[
            ("name", &inert(name)),
            ("amount", amount),
            ("for", &paid_for),
            ("date", date),
        ],
    )
}

/// "Payment received": one matched payment ([`payment_line`]) for a teammate who subscribed.
pub fn payment_received(lang: Lang, club: &str, line: &str, link: &str) -> Message {
    let club = inert(club);
    let args = [("club", club.as_str()), ("line", line), ("link", link)];
    filled(lang, "mail.received", &args)
}

/// The daily digest of the payments matched on `day` (formatted), with their total.
pub fn payment_digest(
    lang: Lang,
    club: &str,
    day: &str,
    lines: &[String],
    total: &str,
    link: &str,
) -> Message {
    let club = inert(club);
    let count = lang.t_count("mail.digest.payments", lines.len() as i64);
    let list = lines.join("\n");
    let args = [
        ("club", club.as_str()),
        ("day", day),
        ("count", count.as_str()),
        ("lines", list.as_str()),
        ("total", total),
        ("link", link),
    ];
    filled(lang, "mail.digest", &args)
}

/// The message whose subject and body are the texts `{prefix}.subject` and `{prefix}.body`,
/// both filled with `args`.
fn filled(lang: Lang, prefix: &str, args: &[(&str, &str)]) -> Message {
    Message {
        subject: lang.t_with(&format!("{prefix}.subject"), args),
        body: lang.t_with(&format!("{prefix}.body"), args),
    }
}

/// Text someone typed (a club's name), made safe to put into a plain-text e-mail: mail clients
/// turn anything that looks like a web or mail address into a link, so only what could be read
/// as one is broken: a dot between a letter or digit and a letter (`evil.cz`, `www.x`), a colon
/// before a slash (`https://`) and an at sign inside a word become look-alike characters (`․`
/// U+2024, `꞉` U+A789, `＠` U+FF20) that no client links. Everything else keeps its real
/// characters (`Sokol Praha, z. s.`, `Klub: mládež`), and control characters become spaces.
/// Placeholders (`%{…}`) in it are never expanded ([`crate::i18n::fill`] substitutes in one
/// pass).
pub fn inert(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let at = |i: usize| chars.get(i).copied();
    chars
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            let before = i.checked_sub(1).and_then(at);
            let after = at(i + 1);
            match c {
                '.' if before.is_some_and(char::is_alphanumeric)
                    && after.is_some_and(char::is_alphabetic) =>
                {
                    '\u{2024}'
                }
                ':' if after == Some('/') => '\u{a789}',
                '@' if before.is_some_and(|b| !b.is_whitespace())
                    && after.is_some_and(|a| !a.is_whitespace()) =>
                {
                    '\u{ff20}'
                }
                c if c.is_control() => ' ',
                c => c,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_club_name_with_a_url_or_a_placeholder_stays_inert_text_in_the_invitation() {
        let message = invitation(
            Lang::Cs,
            &Invitation {
                club: "Klub https://evil.example/x www.evil.cz %{link}",
                inviter: "jana@klub.cz",
                invitee: "petr@klub.cz",
                role_key: "role.treasurer",
                link: "https://kasa.example/invitation?token=abc",
            },
        );
        for text in [&message.subject, &message.body] {
            assert!(!text.contains("https://evil"), "{text}");
            assert!(!text.contains("evil.example"), "{text}");
            assert!(!text.contains("www.evil.cz"), "{text}");
            assert!(text.contains("%{link}"), "placeholder kept literal: {text}");
        }
        assert_eq!(
            message
                .body
                .matches("https://kasa.example/invitation?token=abc")
                .count(),
            1,
            "{}",
            message.body
        );
        assert!(message.body.contains("jana@klub.cz") && message.body.contains("petr@klub.cz"));
    }

    #[test]
    fn a_club_name_that_is_no_address_keeps_its_real_characters() {
        assert_eq!(
            inert("TJ Sokol Praha, z. s.: mládež 1.5"),
            "TJ Sokol Praha, z. s.: mládež 1.5"
        );
        assert_eq!(inert("Klub sokol.cz"), "Klub sokol\u{2024}cz");
        assert_eq!(inert("info@klub"), "info\u{ff20}klub");
        assert_eq!(inert("http://x"), "http\u{a789}//x");
        assert_eq!(inert("Klub\nB"), "Klub B");
    }

    #[test]
    fn an_invitation_is_a_sentence_naming_the_inviter_and_the_club() {
        let message = invitation(
            Lang::Cs,
            &Invitation {
                club: "Spolek Sokol, z. s.",
                inviter: "pokladnik@sokol.cz",
                invitee: "petr@sokol.cz",
                role_key: "role.treasurer",
                link: "https://kasa.example/invitation?token=abc",
            },
        );
        assert!(
            message
                .body
                .contains("pokladnik@sokol.cz vás zve do spolku „Spolek Sokol, z. s.“"),
            "{}",
            message.body
        );
        assert!(!message.body.contains("zve vás ("), "{}", message.body);
    }
}
