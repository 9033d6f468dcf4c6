//! Client Registration: the software-statement request (over mutual TLS) and the statement KB
//! returns, a JWT whose claims are read without verifying KB's signature.

use serde::{Deserialize, Serialize};

use super::lenient::{lenient_i64, lenient_string, string_or_list};

/// Body of `POST /software-statements` (Client Registration).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SoftwareStatementRequest {
    /// Czech name, 5–50 chars, shown to the user.
    pub software_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_name_en: Option<String>,
    /// Developer-chosen id, at most 64 chars (e.g. 32 hex chars).
    pub software_id: String,
    /// 1–30 chars.
    pub software_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_uri: Option<String>,
    /// OAuth2 redirect URIs.
    pub redirect_uris: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grant_types: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_types: Vec<String>,
    /// Where the Application Registration UI returns the encrypted client credentials.
    pub registration_back_uri: String,
    /// 1–2 unique entries like `"email: someone@example.org"`.
    pub contacts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
}

impl SoftwareStatementRequest {
    /// A request with KB's working defaults: `client_secret_post`, grant types
    /// `authorization_code` + `refresh_token`, response type `code`.
    pub fn new(
        software_name: impl Into<String>,
        software_id: impl Into<String>,
        software_version: impl Into<String>,
        redirect_uris: Vec<String>,
        registration_back_uri: impl Into<String>,
        contacts: Vec<String>,
    ) -> Self {
        Self {
            software_name: software_name.into(),
            software_name_en: None,
            software_id: software_id.into(),
            software_version: software_version.into(),
            software_uri: None,
            redirect_uris,
            token_endpoint_auth_method: Some("client_secret_post".to_owned()),
            grant_types: vec!["authorization_code".to_owned(), "refresh_token".to_owned()],
            response_types: vec!["code".to_owned()],
            registration_back_uri: registration_back_uri.into(),
            contacts,
            logo_uri: None,
            tos_uri: None,
            policy_uri: None,
        }
    }
}

/// The software statement: a JWT (valid 12 months) that goes into the registration request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoftwareStatement(pub String);

/// Claims of a software statement, read without verifying the signature (KB signs it for KB).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SoftwareStatementClaims {
    #[serde(default)]
    pub iss: Option<String>,
    #[serde(default, deserialize_with = "lenient_i64")]
    pub iat: Option<i64>,
    /// Missing in some statements; assume issue time + 12 months then.
    #[serde(default, deserialize_with = "lenient_i64")]
    pub exp: Option<i64>,
    #[serde(default)]
    pub vendor_name: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub vendor_registration_number: Option<String>,
    #[serde(default)]
    pub software_name: Option<String>,
    #[serde(default)]
    pub software_id: Option<String>,
    #[serde(default)]
    pub software_version: Option<String>,
    #[serde(default, deserialize_with = "string_or_list")]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub registration_back_uri: Option<String>,
}

impl SoftwareStatement {
    /// Reads a statement from the response body: a bare JWT, possibly quoted or padded with
    /// whitespace. `None` when it does not look like a JWT.
    pub fn from_body(body: &str) -> Option<Self> {
        let trimmed = body.trim();
        let text = serde_json::from_str::<String>(trimmed).unwrap_or_else(|_| trimmed.to_owned());
        let looks_like_jwt = text.split('.').count() == 3
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'='));
        looks_like_jwt.then_some(Self(text))
    }

    /// Decodes the JWT payload (no signature check).
    pub fn claims(&self) -> Option<SoftwareStatementClaims> {
        use base64::Engine as _;
        let payload = self.0.split('.').nth(1)?;
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_statement_body_and_claims() {
        use base64::Engine as _;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(
            r#"{"iss":"Komerční Banka a.s.","iat":1,"exp":31536001,"vendorName":"Blok37 s.r.o.","vendorRegistrationNumber":"05435871","redirectUris":["https://a/cb"]}"#,
        );
        let jwt = format!("eyJhbGciOiJSUzI1NiJ9.{payload}.c2ln");
        let statement = SoftwareStatement::from_body(&format!("\n{jwt}\n"));
        assert_eq!(statement.as_ref().map(|s| s.0.as_str()), Some(jwt.as_str()));
        let claims = statement.and_then(|s| s.claims()).unwrap_or_default();
        assert_eq!(claims.exp, Some(31_536_001));
        assert_eq!(
            claims.vendor_registration_number.as_deref(),
            Some("05435871")
        );
        assert!(SoftwareStatement::from_body(&format!("\"{jwt}\"")).is_some());
        assert!(SoftwareStatement::from_body("<html>oops</html>").is_none());
    }
}
