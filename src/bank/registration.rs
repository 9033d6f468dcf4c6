//! Application registration (KB's browser flow that creates the OAuth2 `client_id` and
//! `client_secret` for one KB user): building the redirect URL to KB's Application Registration UI
//! and decrypting the credentials KB sends back to `registrationBackUri`.
//!
//! Request: `registrationRequest` is the raw standard Base64 (`+`, `/`, `=`, not percent-encoded)
//! of a JSON document carrying a fresh 32-byte AES key per registration; the caller must keep
//! that key (and the `state`) until the callback arrives. Callback: `salt` (12-byte GCM nonce)
//! and `encryptedData` (ciphertext with the 16-byte tag appended), both base64url with or without
//! padding, sometimes wrapped in double quotes by the sandbox; AES-256-GCM without AAD. The
//! request's `state` comes back inside the encrypted JSON (when KB sends it at all).

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rand::RngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use crate::secret::Secret;

/// The only encryption key KB's sandbox accepts (ASCII `2s5v8y/B?E(H+MbQeThWmZq3t6w9z$C&`).
pub const SANDBOX_ENCRYPTION_KEY: &str = "MnM1djh5L0I/RShIK01iUWVUaFdtWnEzdDZ3OXokQyY=";

/// Which AES key goes into a registration request.
#[derive(Debug, Clone)]
pub enum RegistrationKeyPolicy {
    /// A fresh random 32-byte key for every registration (production).
    FreshPerRegistration,
    /// A fixed Base64 key; KB's sandbox accepts only [`SANDBOX_ENCRYPTION_KEY`].
    Fixed(Secret<String>),
}

/// What the application asks KB to register.
#[derive(Debug, Clone)]
pub struct RegistrationParams {
    /// Name shown to the KB user (Czech).
    pub client_name: String,
    /// English name.
    pub client_name_en: Option<String>,
    /// `web` (or `native`).
    pub application_type: String,
    /// OAuth2 redirect URIs (a subset of the software statement's).
    pub redirect_uris: Vec<String>,
    /// Scopes, e.g. `["adaa"]`.
    pub scopes: Vec<String>,
    /// The JWT from [`crate::bank::KbClient::software_statement`].
    pub software_statement: String,
    /// Opaque value to recognise the callback; generated when `None`.
    pub state: Option<String>,
}

/// The redirect to send the user's browser to, with what must be kept for the callback.
#[derive(Debug, Clone)]
pub struct PendingRegistration {
    /// Full URL of KB's Application Registration UI with `registrationRequest` and `state`.
    pub url: String,
    /// Base64 AES-256 key; store it (server side) until the callback is decrypted.
    pub encryption_key: Secret<String>,
    /// The `state` sent with the request.
    pub state: String,
}

/// The JSON behind `registrationRequest`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RegistrationRequestWire {
    pub client_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name_en: Option<String>,
    pub application_type: String,
    pub redirect_uris: Vec<String>,
    pub scope: Vec<String>,
    pub software_statement: String,
    pub encryption_alg: String,
    pub encryption_key: String,
}

/// A fresh random 32-byte AES key, standard Base64 (44 characters).
pub fn generate_encryption_key() -> Secret<String> {
    let mut key = [0_u8; 32];
    OsRng.fill_bytes(&mut key);
    Secret::new(STANDARD.encode(key))
}

/// A random URL-safe `state` value (128 bits).
pub fn generate_state() -> String {
    let mut bytes = [0_u8; 16];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Builds the Application Registration UI redirect.
///
/// `percent_encode_request` percent-encodes the Base64 value; KB's production rejected that in
/// 2025, so the default (`false`) appends it raw.
pub fn build_registration_url(
    registration_ui_url: &str,
    params: &RegistrationParams,
    key_policy: &RegistrationKeyPolicy,
    percent_encode_request: bool,
) -> Result<PendingRegistration> {
    let encryption_key = match key_policy {
        RegistrationKeyPolicy::FreshPerRegistration => generate_encryption_key(),
        RegistrationKeyPolicy::Fixed(key) => key.clone(),
    };
    decode_key(encryption_key.expose_str()).map_err(|_| {
        Error::Config("registration encryption key is not 32+ bytes of Base64".into())
    })?;
    let state = params.state.clone().unwrap_or_else(generate_state);
    let wire = RegistrationRequestWire {
        client_name: params.client_name.clone(),
        client_name_en: params.client_name_en.clone(),
        application_type: params.application_type.clone(),
        redirect_uris: params.redirect_uris.clone(),
        scope: params.scopes.clone(),
        software_statement: params.software_statement.clone(),
        encryption_alg: "AES-256".to_owned(),
        encryption_key: encryption_key.expose_str().to_owned(),
    };
    let json = serde_json::to_vec(&wire)
        .map_err(|e| Error::Config(format!("cannot encode registration request: {e}")))?;
    let request = STANDARD.encode(json);
    let request = if percent_encode_request {
        url::form_urlencoded::byte_serialize(request.as_bytes()).collect::<String>()
    } else {
        request
    };
    let base = url::Url::parse(registration_ui_url)
        .map_err(|e| Error::Config(format!("bad registration UI URL: {e}")))?;
    let separator = if base.query().is_some() { '&' } else { '?' };
    let state_encoded: String = url::form_urlencoded::byte_serialize(state.as_bytes()).collect();
    let url = format!("{base}{separator}registrationRequest={request}&state={state_encoded}");
    Ok(PendingRegistration {
        url,
        encryption_key,
        state,
    })
}

/// The query parameters KB appends to `registrationBackUri`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationCallback {
    pub salt: String,
    pub encrypted_data: String,
    /// A clear-text `state`, if KB sent one (usually it is only inside the encrypted data).
    pub state: Option<String>,
}

impl RegistrationCallback {
    /// Reads the callback from a raw query string (`salt=…&encryptedData=…&state=…`).
    pub fn from_query(query: &str) -> Result<Self> {
        let mut salt = None;
        let mut encrypted_data = None;
        let mut state = None;
        for (name, value) in url::form_urlencoded::parse(query.trim_start_matches('?').as_bytes()) {
            let value = strip_quotes(&value).to_owned();
            match name.as_ref() {
                "salt" => salt = Some(value),
                "encryptedData" => encrypted_data = Some(value),
                "state" => state = Some(value),
                _ => {}
            }
        }
        match (salt, encrypted_data) {
            (Some(salt), Some(encrypted_data)) => Ok(Self {
                salt,
                encrypted_data,
                state,
            }),
            _ => Err(Error::InvalidCallback(
                "salt or encryptedData missing".into(),
            )),
        }
    }

    /// Decrypts the credentials with the key kept from [`PendingRegistration`].
    pub fn decrypt(&self, encryption_key: &Secret<String>) -> Result<RegisteredClient> {
        decrypt_registration(
            encryption_key.expose_str(),
            &self.salt,
            &self.encrypted_data,
        )
    }
}

/// The decrypted registration: the OAuth2 client credentials plus metadata.
#[derive(Debug, Clone, Deserialize)]
pub struct RegisteredClient {
    pub client_id: String,
    pub client_secret: Secret<String>,
    /// Echo of the request's `state`, when KB includes it.
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub client_name: Option<String>,
    #[serde(default, rename = "client_name#en-US")]
    pub client_name_en: Option<String>,
    #[serde(default)]
    pub application_type: Option<String>,
    /// Sent as an array, or in one documented case as a comma-separated string.
    #[serde(default, deserialize_with = "super::wire::string_or_list")]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    /// Meaning unknown (KB client number?).
    #[serde(default, deserialize_with = "string_or_number")]
    pub bin: Option<String>,
    #[serde(default)]
    pub registration_client_uri: Option<String>,
    #[serde(default)]
    pub client_id_issued_at: Option<i64>,
}

impl RegisteredClient {
    /// Checks the echoed `state` against the one sent. A missing echo is accepted (KB's published
    /// callbacks carry none); the per-registration key already ties the callback to its request.
    pub fn verify_state(&self, expected: &str) -> Result<()> {
        match &self.state {
            Some(state) if state != expected => {
                Err(Error::InvalidCallback("state does not match".into()))
            }
            _ => Ok(()),
        }
    }

    /// The credentials for the token endpoint.
    pub fn credentials(&self) -> super::wire::ClientCredentials {
        super::wire::ClientCredentials {
            client_id: self.client_id.clone(),
            client_secret: self.client_secret.clone(),
        }
    }
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

fn strip_quotes(value: &str) -> &str {
    let value = value.trim();
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(value)
}

/// Decodes base64url or standard Base64, padded or not; a space (a `+` mangled by form
/// decoding) is read as `+`.
fn decode_lenient(value: &str) -> Option<Vec<u8>> {
    let normalized: String = strip_quotes(value)
        .chars()
        .filter(|c| *c != '=' && *c != '\n' && *c != '\r')
        .map(|c| match c {
            ' ' | '+' => '-',
            '/' => '_',
            other => other,
        })
        .collect();
    URL_SAFE_NO_PAD.decode(normalized).ok()
}

/// The AES key from its Base64 text; like KB's Java example, the first 32 bytes are used.
fn decode_key(key_b64: &str) -> Result<[u8; 32]> {
    let bytes = decode_lenient(key_b64)
        .ok_or_else(|| Error::InvalidCallback("encryption key is not Base64".into()))?;
    bytes
        .get(..32)
        .and_then(|k| <[u8; 32]>::try_from(k).ok())
        .ok_or_else(|| Error::InvalidCallback("encryption key is shorter than 32 bytes".into()))
}

/// Decrypts `encryptedData` to its plaintext bytes.
pub fn decrypt_callback_bytes(key_b64: &str, salt: &str, encrypted_data: &str) -> Result<Vec<u8>> {
    let key = decode_key(key_b64)?;
    let nonce = decode_lenient(salt)
        .filter(|n| n.len() == 12)
        .ok_or_else(|| Error::InvalidCallback("salt is not a 12-byte base64url value".into()))?;
    let data = decode_lenient(encrypted_data)
        .filter(|d| d.len() >= 16)
        .ok_or_else(|| Error::InvalidCallback("encryptedData is not base64url".into()))?;
    let cipher = Aes256Gcm::new(&key.into());
    cipher
        .decrypt(Nonce::from_slice(&nonce), data.as_slice())
        .map_err(|_| {
            Error::InvalidCallback("decryption failed (wrong key or tampered data)".into())
        })
}

/// Decrypts and parses the registration callback.
pub fn decrypt_registration(
    key_b64: &str,
    salt: &str,
    encrypted_data: &str,
) -> Result<RegisteredClient> {
    let plain = decrypt_callback_bytes(key_b64, salt, encrypted_data)?;
    serde_json::from_slice(&plain).map_err(|e| {
        Error::InvalidCallback(format!(
            "decrypted data is not the expected JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// KB's Java unit-test vector (adaa-example-spring-boot, Aes256DecryptionServiceImplTest).
    const JAVA_KEY: &str = "Ri1KYU5kUmdVa1hwMnM1djh5L0I/RShIK0tiUGVTaFY=";

    /// KB wiki, Application-Registration page, PHP decryption example (sandbox key).
    const WIKI_SALT: &str = "u1W5ABqw9YEcTLgq";
    const WIKI_DATA: &str = include_str!("testdata/kb_wiki_registration.b64").trim_ascii();

    /// KB wiki, Sandbox page: the 302 to `redirectUris[0]` (sandbox key).
    const SANDBOX_SALT: &str = "rrU94Nc3Z6gPBQV3";
    const SANDBOX_DATA: &str = include_str!("testdata/kb_sandbox_registration.b64").trim_ascii();

    /// KB wiki, Sandbox page, PHP example with the Java test key (older sandbox answer).
    const OLD_SANDBOX_SALT: &str = "xrvaINMLqotAbWRK";
    const OLD_SANDBOX_DATA: &str =
        include_str!("testdata/kb_old_sandbox_registration.b64").trim_ascii();

    #[test]
    fn kb_java_vector_decrypts_to_plaintext() -> Result<()> {
        let plain = decrypt_callback_bytes(
            JAVA_KEY,
            "2KwGx76r3hikHRw7",
            "QUp4Sa8Vd0gwDrUNwhhokj_FBuy2Q88OCA==",
        )?;
        assert_eq!(plain, b"plaintext");
        // Unpadded and quoted forms of the same vector.
        let plain = decrypt_callback_bytes(
            JAVA_KEY,
            "\"2KwGx76r3hikHRw7\"",
            "\"QUp4Sa8Vd0gwDrUNwhhokj_FBuy2Q88OCA\"",
        )?;
        assert_eq!(plain, b"plaintext");
        Ok(())
    }

    #[test]
    fn kb_wiki_vectors_decrypt_to_credentials() -> Result<()> {
        let wiki = decrypt_registration(SANDBOX_ENCRYPTION_KEY, WIKI_SALT, WIKI_DATA)?;
        assert_eq!(wiki.client_id, "ExampleClient-9420");
        assert_eq!(wiki.client_secret.expose_str(), "P4lNmO1Rgz7oBIEHEldJuw");
        assert_eq!(wiki.bin.as_deref(), Some("29145643"));
        assert_eq!(wiki.redirect_uris.len(), 2);

        let sandbox = decrypt_registration(SANDBOX_ENCRYPTION_KEY, SANDBOX_SALT, SANDBOX_DATA)?;
        assert_eq!(sandbox.client_id, "ExampleClient-6303");
        assert_eq!(sandbox.client_secret.expose_str(), "bUfDQ1fMmfaSlZBZXlxBOQ");
        assert_eq!(sandbox.client_id_issued_at, Some(1_649_407_196));
        assert_eq!(
            sandbox.token_endpoint_auth_method.as_deref(),
            Some("client_secret_basic")
        );
        assert!(sandbox.verify_state("anything").is_ok());

        let old = decrypt_registration(JAVA_KEY, OLD_SANDBOX_SALT, OLD_SANDBOX_DATA)?;
        assert_eq!(old.client_id, "Mekkezbozi-6533");
        assert_eq!(old.client_name.as_deref(), Some("Měkké zboží"));
        assert!(!format!("{old:?}").contains("OkhnY9uoKowMGH9jUrcqIw"));
        Ok(())
    }

    #[test]
    fn callback_query_with_sandbox_quotes() -> Result<()> {
        let query =
            format!("?salt=%22{SANDBOX_SALT}%22&encryptedData=\"{SANDBOX_DATA}\"&state=client123");
        let callback = RegistrationCallback::from_query(&query)?;
        assert_eq!(callback.salt, SANDBOX_SALT);
        assert_eq!(callback.state.as_deref(), Some("client123"));
        let client = callback.decrypt(&Secret::from(SANDBOX_ENCRYPTION_KEY))?;
        assert_eq!(client.client_id, "ExampleClient-6303");
        assert!(matches!(
            RegistrationCallback::from_query("salt=abc"),
            Err(Error::InvalidCallback(_))
        ));
        Ok(())
    }

    #[test]
    fn wrong_key_or_tampering_fails_cleanly() {
        let other_key = generate_encryption_key();
        assert!(matches!(
            decrypt_registration(other_key.expose_str(), SANDBOX_SALT, SANDBOX_DATA),
            Err(Error::InvalidCallback(_))
        ));
        let tampered = SANDBOX_DATA.replacen('W', "X", 1);
        assert!(matches!(
            decrypt_registration(SANDBOX_ENCRYPTION_KEY, SANDBOX_SALT, &tampered),
            Err(Error::InvalidCallback(_))
        ));
        assert!(matches!(
            decrypt_callback_bytes(SANDBOX_ENCRYPTION_KEY, "short", SANDBOX_DATA),
            Err(Error::InvalidCallback(_))
        ));
    }

    #[test]
    fn state_mismatch_is_rejected() -> Result<()> {
        let key = generate_encryption_key();
        let nonce = [7_u8; 12];
        let cipher = Aes256Gcm::new(&decode_key(key.expose_str())?.into());
        let sealed = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                br#"{"client_id":"A-1","client_secret":"s","state":"abc"}"#.as_slice(),
            )
            .map_err(|_| Error::Config("encrypt".into()))?;
        let client = decrypt_registration(
            key.expose_str(),
            &URL_SAFE_NO_PAD.encode(nonce),
            &URL_SAFE_NO_PAD.encode(sealed),
        )?;
        assert!(client.verify_state("abc").is_ok());
        assert!(client.verify_state("xyz").is_err());
        Ok(())
    }

    fn params() -> RegistrationParams {
        RegistrationParams {
            client_name: "Kasa – oddíl".into(),
            client_name_en: Some("Kasa".into()),
            application_type: "web".into(),
            redirect_uris: vec!["https://kasa.example/kb/callback".into()],
            scopes: vec!["adaa".into()],
            software_statement: "eyJhbGciOiJSUzI1NiJ9.e30.c2ln".into(),
            state: None,
        }
    }

    fn request_of(url: &str) -> Result<RegistrationRequestWire> {
        let raw = url
            .split("registrationRequest=")
            .nth(1)
            .and_then(|rest| rest.split('&').next())
            .ok_or_else(|| Error::Protocol("no registrationRequest".into()))?;
        let json = STANDARD
            .decode(raw)
            .map_err(|_| Error::Protocol("not standard Base64".into()))?;
        serde_json::from_slice(&json).map_err(|e| Error::Protocol(e.to_string()))
    }

    #[test]
    fn registration_url_uses_raw_standard_base64_and_fresh_keys() -> Result<()> {
        let ui = "https://api-gateway.kb.cz/client-registration-ui/v2/saml/register";
        let first = build_registration_url(
            ui,
            &params(),
            &RegistrationKeyPolicy::FreshPerRegistration,
            false,
        )?;
        let second = build_registration_url(
            ui,
            &params(),
            &RegistrationKeyPolicy::FreshPerRegistration,
            false,
        )?;
        assert!(first.url.starts_with(&format!("{ui}?registrationRequest=")));
        assert!(first.url.ends_with(&format!("&state={}", first.state)));
        assert!(
            !first.url.contains('%'),
            "raw Base64 expected: {}",
            first.url
        );
        assert_ne!(
            first.encryption_key.expose_str(),
            second.encryption_key.expose_str()
        );
        assert_ne!(first.state, second.state);
        assert_eq!(first.encryption_key.expose_str().len(), 44);
        assert_eq!(decode_key(first.encryption_key.expose_str())?.len(), 32);
        let wire = request_of(&first.url)?;
        assert_eq!(wire.encryption_key, first.encryption_key.expose_str());
        assert_eq!(wire.encryption_alg, "AES-256");
        assert_eq!(wire.scope, vec!["adaa".to_owned()]);
        assert_eq!(wire.client_name, "Kasa – oddíl");

        let sandbox = build_registration_url(
            ui,
            &RegistrationParams {
                state: Some("a b&c".into()),
                ..params()
            },
            &RegistrationKeyPolicy::Fixed(Secret::from(SANDBOX_ENCRYPTION_KEY)),
            true,
        )?;
        assert_eq!(sandbox.encryption_key.expose_str(), SANDBOX_ENCRYPTION_KEY);
        assert!(sandbox.url.ends_with("&state=a+b%26c"));
        // Percent-encoded form: decoding the query yields the same standard Base64 JSON.
        let query = sandbox
            .url
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or_default();
        let request = url::form_urlencoded::parse(query.as_bytes())
            .find(|(name, _)| name == "registrationRequest")
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default();
        let json = STANDARD
            .decode(request)
            .map_err(|_| Error::Protocol("not standard Base64".into()))?;
        let wire: RegistrationRequestWire =
            serde_json::from_slice(&json).map_err(|e| Error::Protocol(e.to_string()))?;
        assert_eq!(wire.encryption_key, SANDBOX_ENCRYPTION_KEY);
        Ok(())
    }
}
