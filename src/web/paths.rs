//! Every link the pages use, built in one place.

use crate::db::tenant::TenantKey;

pub fn login_then(next: &str) -> String {
    let next = safe_next(next).unwrap_or("/");
    if next == "/" {
        "/login".to_owned()
    } else {
        format!(
            "/login?next={}",
            url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
        )
    }
}

/// Accepts only a redirect target that stays on Kasa's own origin: an absolute path (`/…`,
/// optionally with a query) of visible ASCII characters, without a backslash, not starting with
/// `//`, and whose percent-decoded form has neither control characters, backslashes nor a
/// leading `//` either. Anything else (`None`) means "go to `/`". Browsers strip tabs and
/// newlines from URLs and read `\` as `/`, so `/\t/evil.example` would leave the site.
pub fn safe_next(next: &str) -> Option<&str> {
    let visible = next.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    if !visible || !next.starts_with('/') || next.starts_with("//") || next.len() > 2000 {
        return None;
    }
    let decoded = percent_decode(next.as_bytes());
    let decoded_ok = !decoded
        .iter()
        .any(|&b| b.is_ascii_control() || b == b'\\' || b == 0x7f)
        && !decoded.starts_with(b"//");
    // Resolving against an origin must keep that origin (the final word on "local").
    let base = url::Url::parse("http://kasa.invalid/").ok()?;
    let same_origin = base
        .join(next)
        .is_ok_and(|u| u.origin() == base.origin() && u.username().is_empty());
    (decoded_ok && same_origin).then_some(next)
}

/// `%XX` sequences decoded once (malformed ones kept as they are).
fn percent_decode(input: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i] == b'%'
            && let (Some(hi), Some(lo)) = (
                input.get(i + 1).copied().and_then(hex),
                input.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(hi << 4 | lo);
            i += 3;
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    out
}

pub fn club(key: TenantKey) -> String {
    format!("/t/{key}")
}

pub fn team(key: TenantKey) -> String {
    format!("/t/{key}/team")
}

pub fn audit(key: TenantKey) -> String {
    format!("/t/{key}/audit")
}

/// The member list; the other member pages hang below it.
pub fn members(key: TenantKey) -> String {
    format!("/t/{key}/members")
}

pub fn member(key: TenantKey, id: crate::member::MemberId) -> String {
    format!("/t/{key}/members/{id}")
}

/// A member's own page (no login; the token is the only key).
pub fn pay(token: &str) -> String {
    format!("/pay/{token}")
}

/// The consent's expiry as a calendar file.
pub fn consent_ics(key: TenantKey) -> String {
    format!("/t/{key}/bank/consent.ics")
}

pub fn member_import(key: TenantKey, id: crate::member::import::ImportId) -> String {
    format!("/t/{key}/members/import/{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_redirect_targets() {
        assert_eq!(safe_next("/t/abc"), Some("/t/abc"));
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "evil",
            "/x\r\nSet-Cookie: a",
            "/\t/evil.example",
            "/%09/evil.example",
            "/%2F/evil.example",
            "/%5Cevil.example",
            "/x%00",
            "/x%0b",
        ] {
            assert_eq!(safe_next(bad), None, "{bad}");
        }
        assert_eq!(login_then("//evil"), "/login");
        assert_eq!(login_then("/t/x/team"), "/login?next=%2Ft%2Fx%2Fteam");
        assert_eq!(
            safe_next("/invitation?token=a%2Bb"),
            Some("/invitation?token=a%2Bb")
        );
    }

    /// Every byte, and every byte percent-encoded, at the start, after the first slash and in
    /// the middle of a path: whatever `safe_next` accepts is a header-safe path that resolves to
    /// the same origin, and accepts nothing that could leave it.
    #[test]
    fn safe_next_accepts_only_same_origin_paths_for_every_byte() {
        let base = url::Url::parse("https://kasa.example/").expect("base");
        let mut accepted = 0;
        for b in 0u8..=255 {
            let raw = String::from_utf8_lossy(&[b]).into_owned();
            let encoded = format!("%{b:02X}");
            for piece in [raw, encoded] {
                for candidate in [
                    piece.clone(),
                    format!("{piece}/evil.example"),
                    format!("/{piece}/evil.example"),
                    format!("/{piece}{piece}evil.example"),
                    format!("/t/abc{piece}x?next={piece}"),
                ] {
                    let Some(ok) = safe_next(&candidate) else {
                        continue;
                    };
                    accepted += 1;
                    assert!(
                        axum::http::HeaderValue::from_str(ok).is_ok(),
                        "{candidate:?} is not a header value"
                    );
                    let resolved = base.join(ok).expect("resolves");
                    assert_eq!(resolved.origin(), base.origin(), "{candidate:?} left");
                    assert!(!ok.starts_with("//") && !ok.contains('\\'), "{candidate:?}");
                    let decoded = percent_decode(ok.as_bytes());
                    assert!(
                        !decoded.iter().any(u8::is_ascii_control) && !decoded.starts_with(b"//"),
                        "{candidate:?}"
                    );
                }
            }
        }
        assert!(accepted > 300, "ordinary paths still accepted ({accepted})");
    }
}
