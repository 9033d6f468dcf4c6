//! The e-mails Kasa sends, in the recipient's language (texts in `locales/app.yml`).

use super::Message;
use crate::i18n::Lang;
use crate::team::Role;

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

pub fn invitation(lang: Lang, club: &str, inviter: &str, role: Role, link: &str) -> Message {
    let role = lang.t(role.label_key());
    Message {
        subject: lang.t_with("mail.invitation.subject", &[("club", club)]),
        body: lang.t_with(
            "mail.invitation.body",
            &[
                ("club", club),
                ("inviter", inviter),
                ("role", &role),
                ("link", link),
            ],
        ),
    }
}
