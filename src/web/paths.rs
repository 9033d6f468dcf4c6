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

/// Accepts only a local path as a redirect target (no `//host`, no `/\host`, no scheme).
pub fn safe_next(next: &str) -> Option<&str> {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.contains(['\r', '\n']);
    ok.then_some(next)
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
        ] {
            assert_eq!(safe_next(bad), None, "{bad}");
        }
        assert_eq!(login_then("//evil"), "/login");
        assert_eq!(login_then("/t/x/team"), "/login?next=%2Ft%2Fx%2Fteam");
    }
}
