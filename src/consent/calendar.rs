//! The consent's expiry as a calendar event (`.ics`): downloaded from the club's overview and
//! attached to the 30-day reminder. The event's `UID` names the connection and its `SEQUENCE`
//! is the grant time, so after a renewal the new file replaces the old event in calendar apps.

use crate::i18n::{self, Lang};
use crate::ical;
use time::OffsetDateTime;
use uuid::Uuid;

/// The file name of the download and the attachment.
pub const FILE_NAME: &str = "kasa-souhlas-kb.ics";
/// The attachment's content type.
pub const CONTENT_TYPE: &str = "text/calendar; charset=utf-8; method=PUBLISH";

/// What the event is made of.
#[derive(Debug, Clone, Copy)]
pub struct Expiry<'a> {
    pub connection: Uuid,
    /// The club's name as its owner typed it.
    pub club: &'a str,
    /// When the consent was granted or last renewed (the event's version).
    pub granted_at: Option<OffsetDateTime>,
    pub expires_at: OffsetDateTime,
    /// Where to renew (the club's overview).
    pub link: &'a str,
}

/// The `.ics` text: an all-day event on the Prague day the consent expires, with a reminder a
/// week before, in `lang`.
pub fn ics(expiry: &Expiry<'_>, lang: Lang, now: OffsetDateTime) -> String {
    let date = i18n::format_date(expiry.expires_at, lang);
    let args = [
        ("club", expiry.club),
        ("date", date.as_str()),
        ("link", expiry.link),
    ];
    let summary = lang.t_with("consent.calendar.summary", &args);
    let description = lang.t_with("consent.calendar.description", &args);
    let uid = format!("consent-{}@kasa", expiry.connection);
    ical::calendar(&ical::Event {
        uid: &uid,
        sequence: expiry
            .granted_at
            .map(|at| at.unix_timestamp())
            .unwrap_or(0)
            .max(0),
        stamp: now,
        day: i18n::prague_date(expiry.expires_at),
        summary: &summary,
        description: &description,
        url: Some(expiry.link),
        alarm_days_before: 7,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_renewal_gives_the_same_event_a_later_day_and_a_higher_sequence() {
        let connection = Uuid::nil();
        let first = Expiry {
            connection,
            club: "TJ Sokol",
            granted_at: Some(datetime!(2026-01-10 09:00 UTC)),
            // 23:30 UTC is already the next day in Prague.
            expires_at: datetime!(2027-01-10 23:30 UTC),
            link: "https://kasa.example/t/x",
        };
        let renewed = Expiry {
            granted_at: Some(datetime!(2026-12-20 09:00 UTC)),
            expires_at: datetime!(2027-12-20 09:00 UTC),
            ..first
        };
        let now = datetime!(2026-12-20 10:00 UTC);
        let (a, b) = (ics(&first, Lang::Cs, now), ics(&renewed, Lang::Cs, now));
        assert!(a.contains("DTSTART;VALUE=DATE:20270111\r\n"), "{a}");
        assert!(b.contains("DTSTART;VALUE=DATE:20271220\r\n"), "{b}");
        let uid = format!("UID:consent-{connection}@kasa\r\n");
        assert!(a.contains(&uid) && b.contains(&uid));
        let sequence = |s: &str| -> i64 {
            s.split("\r\n")
                .find_map(|l| l.strip_prefix("SEQUENCE:"))
                .and_then(|n| n.parse().ok())
                .expect("sequence")
        };
        assert!(sequence(&b) > sequence(&a));
        assert!(a.contains("TJ Sokol"), "{a}");
    }
}
