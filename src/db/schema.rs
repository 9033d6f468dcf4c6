//! The names of a club's schema: its key (26 lowercase base32 characters of the club's UUID,
//! also used in URLs) and the schema name `t_<key>`, validated before it is spliced into SQL.
//! Pure naming, no SQL: [`super::tenant`] and [`super::migrate`] both build on it.

use std::fmt;
use uuid::Uuid;

uuid_newtype!(
    /// A club (row of `app.tenants`), where it is named by its id alone: a URL's key, a
    /// membership lookup, [`super::tenant::Tenant::load`]. Re-exported as `club::ClubId`.
    ClubId
);

const SCHEMA_PREFIX: &str = "t_";
const KEY_LEN: usize = 26;

/// A club's public key: 26 lowercase base32 characters, used in URLs (`/t/{key}`) and as the
/// suffix of its schema name. Derived from the tenant's UUID (128 bits), never from user input.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct TenantKey([u8; KEY_LEN]);

impl TenantKey {
    pub fn from_id(id: ClubId) -> Self {
        let encoded = data_encoding::BASE32_NOPAD
            .encode(id.0.as_bytes())
            .to_ascii_lowercase();
        let mut key = [b'a'; KEY_LEN];
        key.copy_from_slice(&encoded.as_bytes()[..KEY_LEN]);
        Self(key)
    }

    /// Parses a key from a URL segment; anything but 26 base32 characters is refused.
    pub fn parse(text: &str) -> Option<Self> {
        let bytes = text.as_bytes();
        if bytes.len() != KEY_LEN || !bytes.iter().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7')) {
            return None;
        }
        let mut key = [b'a'; KEY_LEN];
        key.copy_from_slice(bytes);
        Some(Self(key))
    }

    /// The club this key encodes.
    pub fn id(&self) -> Option<ClubId> {
        let upper = self.as_str().to_ascii_uppercase();
        let bytes = data_encoding::BASE32_NOPAD.decode(upper.as_bytes()).ok()?;
        Uuid::from_slice(&bytes).ok().map(ClubId)
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII base32 characters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("")
    }
}

impl fmt::Display for TenantKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TenantKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TenantKey({})", self.as_str())
    }
}

/// The club key of a schema name given as text (`t_<key>`, as live notifications carry it);
/// `None` for anything else.
pub fn key_of_schema(text: &str) -> Option<TenantKey> {
    TenantKey::parse(text.strip_prefix(SCHEMA_PREFIX)?)
}

/// A validated tenant schema name, `t_<26 base32 chars>`: safe to splice into SQL text.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SchemaName(String);

impl SchemaName {
    pub fn for_key(key: TenantKey) -> Self {
        Self(format!("{SCHEMA_PREFIX}{key}"))
    }

    pub fn parse(text: &str) -> Option<Self> {
        let key = text.strip_prefix(SCHEMA_PREFIX)?;
        TenantKey::parse(key).map(Self::for_key)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name as a quoted SQL identifier.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

impl fmt::Debug for SchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tenant_key_is_26_base32_characters_and_round_trips_its_uuid() {
        let id = ClubId(Uuid::now_v7());
        let key = TenantKey::from_id(id);
        assert_eq!(key.as_str().len(), 26);
        assert_eq!(key.id(), Some(id));
        assert_eq!(TenantKey::parse(key.as_str()), Some(key));
    }

    #[test]
    fn schema_names_from_anywhere_but_the_generator_are_refused() {
        for bad in [
            "public",
            "t_",
            "t_abc",
            "t_AAAAAAAAAAAAAAAAAAAAAAAAAA",
            "t_aaaaaaaaaaaaaaaaaaaaaaaaa\"",
            "t_aaaaaaaaaaaaaaaaaaaaaaaaa1",
            "app",
        ] {
            assert!(SchemaName::parse(bad).is_none(), "{bad} accepted");
        }
        assert!(SchemaName::parse("t_aaaaaaaaaaaaaaaaaaaaaaaaaa").is_some());
    }
}
