//! Text from KB or its transport made safe to store and show: one line, printable, bounded.

/// Single-line, printable, at most 240 characters.
pub(crate) fn shorten(text: &str) -> String {
    const MAX: usize = 240;
    let mut out = String::new();
    let mut last_space = false;
    for c in text.chars() {
        let c = if c.is_control() || c.is_whitespace() {
            ' '
        } else {
            c
        };
        if c == ' ' && (last_space || out.is_empty()) {
            continue;
        }
        last_space = c == ' ';
        if out.chars().count() >= MAX {
            out.push('…');
            break;
        }
        out.push(c);
    }
    out.trim_end().to_owned()
}
