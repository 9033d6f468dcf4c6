//! Compact JWS (EdDSA / Ed25519) for software statements and tokens, plus Base64 helpers.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use super::pki;

/// Base64url without padding.
pub fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url with or without padding.
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .ok()
        .or_else(|| URL_SAFE.decode(s).ok())
}

/// Standard Base64 decode.
pub fn b64_decode(s: &str) -> Option<Vec<u8>> {
    STANDARD.decode(s).ok()
}

/// Signs `claims` as a compact JWS with the sandbox key.
pub fn sign(signer: &rcgen::KeyPair, claims: &Value) -> Result<String, rcgen::Error> {
    let header = json!({ "alg": "EdDSA", "typ": "JWT", "kid": "kb-sandbox" });
    let input = format!(
        "{}.{}",
        b64url(header.to_string().as_bytes()),
        b64url(claims.to_string().as_bytes())
    );
    let sig = pki::sign(signer, input.as_bytes())?;
    Ok(format!("{input}.{}", b64url(&sig)))
}

/// Decodes the payload of a compact JWS without verifying it.
pub fn claims(token: &str) -> Option<Value> {
    let mut parts = token.split('.');
    let _header = parts.next()?;
    let payload = parts.next()?;
    serde_json::from_slice(&b64url_decode(payload)?).ok()
}
