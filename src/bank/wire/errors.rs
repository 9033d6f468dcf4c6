//! Error bodies of every shape KB's gateways were seen to send, reduced to codes and messages
//! (classified by outcome in `bank::error`).

use serde::Deserialize;

use super::lenient::lenient_string;

/// Any JSON error body KB's gateways were seen to send: ADAA `{"errors":[{code?, message,
/// additionalInfo?}]}`, Client Registration `{"errors":[{errorCode, scope, description}]}`,
/// gateway `{"errors":[{"error":"UNAUTHORISED", message}]}`, Spring-style `{"status", "message",
/// "errors":["text"]}` and OAuth2 `{"error", "error_description"}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ErrorResponse {
    #[serde(default)]
    pub errors: Vec<ErrorEntry>,
    /// OAuth2 error code (`invalid_grant`, ...).
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub status: Option<String>,
}

/// One entry of `errors`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ErrorEntry {
    Detail(ErrorDetail),
    Text(String),
}

/// A structured error entry (union of the shapes KB uses).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetail {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub additional_info: Option<AdditionalInfo>,
}

/// `additionalInfo` of an ADAA error. `rejectedValue` may echo request data: never log it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdditionalInfo {
    #[serde(default)]
    pub parameter_name: Option<String>,
    #[serde(default)]
    pub rejected_value: Option<String>,
}

impl ErrorResponse {
    /// Every error code in the body (ADAA `code`, Client Registration `errorCode`, gateway
    /// `error`, OAuth2 `error`).
    pub fn codes(&self) -> Vec<&str> {
        let mut codes: Vec<&str> = self.error.iter().map(String::as_str).collect();
        for entry in &self.errors {
            if let ErrorEntry::Detail(d) = entry {
                codes.extend(
                    [&d.code, &d.error_code, &d.error]
                        .into_iter()
                        .filter_map(|c| c.as_deref()),
                );
            }
        }
        codes
    }

    /// Every human-readable message in the body (without rejected values).
    pub fn messages(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        out.extend(self.error_description.iter().cloned());
        out.extend(self.message.iter().cloned());
        for entry in &self.errors {
            match entry {
                ErrorEntry::Text(text) => out.push(text.clone()),
                ErrorEntry::Detail(d) => {
                    let text = d.message.as_deref().or(d.description.as_deref());
                    let field = d
                        .additional_info
                        .as_ref()
                        .and_then(|i| i.parameter_name.as_deref())
                        .or(d.scope.as_deref());
                    match (text, field) {
                        (Some(t), Some(f)) => out.push(format!("{t} ({f})")),
                        (Some(t), None) => out.push(t.to_owned()),
                        (None, Some(f)) => out.push(format!("invalid {f}")),
                        (None, None) => {}
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_of_every_known_shape() -> Result<(), serde_json::Error> {
        let spring: ErrorResponse = serde_json::from_str(
            r#"{"status":"BAD_REQUEST","timestamp":"23-07-2025 07:57:05","message":"Validation failed","errors":["One or more redirectUris are not valid due to not matching a URI pattern."]}"#,
        )?;
        assert_eq!(spring.messages().len(), 2);
        let cr: ErrorResponse = serde_json::from_str(
            r#"{"errors":[{"errorCode":"E1","scope":"contacts","description":"bad"}]}"#,
        )?;
        assert_eq!(cr.codes(), vec!["E1"]);
        assert_eq!(cr.messages(), vec!["bad (contacts)".to_owned()]);
        let gateway: ErrorResponse = serde_json::from_str(
            r#"{"errors":[{"error":"UNAUTHORISED","message":"Missing certificate or access token"}]}"#,
        )?;
        assert_eq!(gateway.codes(), vec!["UNAUTHORISED"]);
        let oauth: ErrorResponse =
            serde_json::from_str(r#"{"error":"invalid_grant","error_description":"expired"}"#)?;
        assert_eq!(oauth.codes(), vec!["invalid_grant"]);
        Ok(())
    }
}
