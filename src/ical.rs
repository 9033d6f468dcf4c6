//! iCalendar (RFC 5545) files of one all-day event, written by hand: CRLF line ends, TEXT
//! values escaped (`\\`, `\;`, `\,`, `\n`), content lines folded at 75 octets without
//! splitting a UTF-8 character (continuation lines start with one space). The well-kept crate
//! (`icalendar`) needs `chrono`, a second time crate (docs/dependencies.md).

use time::{Date, OffsetDateTime, UtcOffset};

/// One all-day event with a reminder before it.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    /// Stable across updates of the same event (calendar apps replace the event with a newer
    /// `sequence` of the same `uid`).
    pub uid: &'a str,
    /// Grows with every change of the event (e.g. seconds since the epoch of the change).
    pub sequence: i64,
    /// When the file was made (`DTSTAMP`).
    pub stamp: OffsetDateTime,
    /// The day of the event.
    pub day: Date,
    pub summary: &'a str,
    pub description: &'a str,
    pub url: Option<&'a str>,
    /// Days before `day` at which the calendar reminds (none when 0).
    pub alarm_days_before: u8,
}

/// TEXT value escaping (RFC 5545 §3.3.11).
fn text(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Appends one content line, folded at 75 octets (RFC 5545 §3.1), with CRLF.
fn line(out: &mut String, content: &str) {
    let mut width = 0;
    for c in content.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

fn day(d: Date) -> String {
    format!("{:04}{:02}{:02}", d.year(), u8::from(d.month()), d.day())
}

fn utc(at: OffsetDateTime) -> String {
    let at = at.to_offset(UtcOffset::UTC);
    format!(
        "{}T{:02}{:02}{:02}Z",
        day(at.date()),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// The `.ics` file of `event` (`text/calendar`, UTF-8).
pub fn calendar(event: &Event<'_>) -> String {
    let mut out = String::new();
    let next_day = event.day.next_day().unwrap_or(event.day);
    for content in [
        "BEGIN:VCALENDAR".to_owned(),
        "VERSION:2.0".to_owned(),
        "PRODID:-//Kasa//Kasa//CS".to_owned(),
        "CALSCALE:GREGORIAN".to_owned(),
        "METHOD:PUBLISH".to_owned(),
        "BEGIN:VEVENT".to_owned(),
        format!("UID:{}", text(event.uid)),
        format!("SEQUENCE:{}", event.sequence),
        format!("DTSTAMP:{}", utc(event.stamp)),
        format!("DTSTART;VALUE=DATE:{}", day(event.day)),
        format!("DTEND;VALUE=DATE:{}", day(next_day)),
        format!("SUMMARY:{}", text(event.summary)),
        format!("DESCRIPTION:{}", text(event.description)),
        "TRANSP:TRANSPARENT".to_owned(),
    ] {
        line(&mut out, &content);
    }
    if let Some(url) = event.url {
        line(&mut out, &format!("URL:{url}"));
    }
    if event.alarm_days_before > 0 {
        for content in [
            "BEGIN:VALARM".to_owned(),
            "ACTION:DISPLAY".to_owned(),
            format!("TRIGGER:-P{}D", event.alarm_days_before),
            format!("DESCRIPTION:{}", text(event.summary)),
            "END:VALARM".to_owned(),
        ] {
            line(&mut out, &content);
        }
    }
    line(&mut out, "END:VEVENT");
    line(&mut out, "END:VCALENDAR");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn event<'a>(summary: &'a str, description: &'a str) -> Event<'a> {
        Event {
            uid: "consent-1@kasa",
            sequence: 1_764_000_000,
            stamp: datetime!(2026-11-30 08:15:03 +01:00),
            day: date!(2027 - 11 - 30),
            summary,
            description,
            url: Some("https://kasa.example/t/abc"),
            alarm_days_before: 7,
        }
    }

    #[test]
    fn an_all_day_event_with_crlf_lines_and_a_reminder() {
        let ics = calendar(&event("Souhlas KB vyprší", "Obnovte ho v Kase"));
        assert!(
            ics.starts_with("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"),
            "{ics}"
        );
        assert!(ics.ends_with("END:VEVENT\r\nEND:VCALENDAR\r\n"), "{ics}");
        for wanted in [
            "\r\nDTSTART;VALUE=DATE:20271130\r\n",
            "\r\nDTEND;VALUE=DATE:20271201\r\n",
            "\r\nDTSTAMP:20261130T071503Z\r\n",
            "\r\nSUMMARY:Souhlas KB vyprší\r\n",
            "\r\nTRIGGER:-P7D\r\n",
            "\r\nURL:https://kasa.example/t/abc\r\n",
        ] {
            assert!(ics.contains(wanted), "{wanted:?} in {ics}");
        }
        assert!(!ics.replace("\r\n", "").contains('\n'), "only CRLF");
    }

    #[test]
    fn text_is_escaped_and_long_lines_fold_at_75_octets_between_characters() {
        let description = "Spolek „Žluťoučký kůň; oddíl, přípravka“ \\ musí obnovit souhlas.\n\
                           Druhý řádek s dalšími českými znaky ěščřžýáíéůú a ještě víc textu.";
        let ics = calendar(&event("x", description));
        for physical in ics.split("\r\n") {
            assert!(
                physical.len() <= 75,
                "{physical:?} is {} octets",
                physical.len()
            );
        }
        // Unfolding (RFC 5545 §3.1: CRLF + one space) gives the escaped value back.
        let unfolded = ics.replace("\r\n ", "");
        let value = unfolded
            .split("\r\n")
            .find_map(|l| l.strip_prefix("DESCRIPTION:"))
            .expect("description");
        assert_eq!(
            value,
            "Spolek „Žluťoučký kůň\\; oddíl\\, přípravka“ \\\\ musí obnovit souhlas.\\n\
             Druhý řádek s dalšími českými znaky ěščřžýáíéůú a ještě víc textu."
        );
    }
}
