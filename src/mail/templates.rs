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
    Message {
        subject: lang.t_with("mail.invite.subject", &args),
        body: lang.t_with("mail.invite.body", &args),
    }
}

/// Text someone typed (a club's name), made safe to put into a plain-text e-mail: mail clients
/// turn anything that looks like a web or mail address into a link, so dots, colons and at
/// signs become look-alike characters (`․` U+2024, `꞉` U+A789, `＠` U+FF20) that no client
/// links, and control characters become spaces. Placeholders (`%{…}`) in it are never expanded
/// ([`crate::i18n::fill`] substitutes in one pass).
pub fn inert(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '.' => '\u{2024}',
            ':' => '\u{a789}',
            '@' => '\u{ff20}',
            c if c.is_control() => ' ',
            c => c,
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
}
