//! Minimal HTML helpers for the browser pages (Czech text with English in brackets).

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// Escapes text for HTML bodies and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A full page.
pub fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"cs\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>{t}</title><style>\
body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}}\
header{{background:#e4002b;color:#fff;padding:.6rem 1rem;border-radius:4px;margin-bottom:1rem}}\
.en{{color:#777;font-size:.9em}} .err{{color:#b00020}} fieldset{{margin:.8rem 0}}\
button{{padding:.4rem 1rem;margin:.2rem}} code{{background:#f3f3f3;padding:0 .2rem}}\
table{{border-collapse:collapse}} td,th{{border:1px solid #ddd;padding:.2rem .4rem;font-size:.9em}}\
</style></head><body><header><strong>KB sandbox</strong> – simulátor Komerční banky \
<span>(Komerční banka simulator)</span></header>{body}</body></html>",
        t = esc(title),
    );
    (status, Html(html)).into_response()
}

/// An error page.
pub fn error_page(status: StatusCode, cz: &str, en: &str) -> Response {
    page(
        status,
        "Chyba (Error)",
        &format!(
            "<h1>Chyba <span class=\"en\">(Error)</span></h1><p class=\"err\">{}</p><p class=\"en\">({})</p>",
            esc(cz),
            esc(en)
        ),
    )
}

/// A hidden form field.
pub fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        esc(name),
        esc(value)
    )
}
