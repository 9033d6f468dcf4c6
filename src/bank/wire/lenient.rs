//! How KB's values are read: date-times with or without a zone, scalars that arrive as strings
//! or numbers, lists sent as comma-separated text, and open enumerations ([`open_enum!`]) that
//! keep values KB may add instead of failing the whole response.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, PrimitiveDateTime};

time::serde::format_description!(pub(super) kb_date, Date, "[year]-[month]-[day]");

/// Date-times as KB sends them: RFC 3339 (`2022-06-16T11:07:03.156Z`, `2019-06-05T11:34:00Z`,
/// up to microseconds); a missing zone is read as UTC rather than rejected.
pub(super) mod kb_datetime {
    use super::*;

    const NO_ZONE: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
    );

    pub fn parse(text: &str) -> Option<OffsetDateTime> {
        OffsetDateTime::parse(text, &Rfc3339).ok().or_else(|| {
            PrimitiveDateTime::parse(text, NO_ZONE)
                .ok()
                .map(PrimitiveDateTime::assume_utc)
        })
    }

    pub fn serialize<S: Serializer>(value: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        let text = value.format(&Rfc3339).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).ok_or_else(|| D::Error::custom("invalid date-time"))
    }
}

/// A JSON scalar read as text: strings stay, numbers and booleans are printed (for fields that
/// KB documents as one type and examples show as another, e.g. `acr`, `bin`).
pub(super) fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => None,
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(serde_json::Value::Bool(b)) => Some(b.to_string()),
        Some(_) => return Err(D::Error::custom("expected a string or a number")),
    })
}

/// An integer that may arrive as a number or a numeric string (`expires_in`).
pub(super) fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match lenient_string(d)? {
        None => Ok(None),
        Some(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| D::Error::custom("expected an integer")),
    }
}

/// A list that some KB responses send as a comma-separated string instead of an array.
pub(crate) fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<String>),
        Text(String),
    }
    Ok(match Option::<Either>::deserialize(d)? {
        None => Vec::new(),
        Some(Either::List(items)) => items,
        Some(Either::Text(text)) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// Declares a string enumeration with known variants plus `Unknown(String)` for values KB may add.
macro_rules! open_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => [$wire:literal $(, $alias:literal)*]),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
            /// A value this client does not know (kept verbatim).
            Unknown(String),
        }

        impl $name {
            /// The wire value (for known variants the canonical spelling).
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$variant => $wire,)+
                    Self::Unknown(value) => value,
                }
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                match value {
                    $($wire $(| $alias)* => Self::$variant,)+
                    other => Self::Unknown(other.to_owned()),
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let value = <String as ::serde::Deserialize>::deserialize(d)?;
                Ok(Self::from(value.as_str()))
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_times_are_lenient_but_exact() {
        let parsed = kb_datetime::parse("2023-06-08T07:30:27.21247Z");
        assert_eq!(parsed.map(|d| d.microsecond()), Some(212_470));
        assert!(kb_datetime::parse("2020-01-14T09:33:06.323").is_some());
        assert!(kb_datetime::parse("2020-01-14").is_none());
    }
}
