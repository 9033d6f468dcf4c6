//! The sandbox's answers validate against KB's own OpenAPI documents (ADAA v2 and Client
//! Registration v3), with a JSON-schema validator.

use crate::kb_client::{BACK_URI, REDIRECT_URI, client_for, onboard, sandbox};
use serde_json::{Value, json};

const ADAA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/kb-reference/openapi/adaa-api-v2.json"
);
const REGISTRATION: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/kb-reference/openapi/client-registration-v3.json"
);

/// OpenAPI 3.0 `nullable: true` → JSON Schema `type: [T, "null"]`, recursively.
fn nullable_to_json_schema(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.get("nullable") == Some(&Value::Bool(true))
                && let Some(Value::String(t)) = map.get("type").cloned()
            {
                map.insert("type".into(), json!([t, "null"]));
            }
            map.values_mut().for_each(nullable_to_json_schema);
        }
        Value::Array(items) => items.iter_mut().for_each(nullable_to_json_schema),
        _ => {}
    }
}

struct Contract {
    doc: Value,
}

impl Contract {
    fn load(path: &str) -> Contract {
        let mut doc: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("openapi")).expect("json");
        nullable_to_json_schema(&mut doc);
        Contract { doc }
    }

    /// Validates `body` as the `status` answer of `method path` (path as in the document).
    fn check(&self, method: &str, path: &str, status: u16, body: &Value) -> Vec<String> {
        let response = &self.doc["paths"][path][method]["responses"][status.to_string()];
        let content = &response["content"];
        let schema = content["application/json"]["schema"]
            .as_object()
            .or_else(|| {
                content
                    .as_object()
                    .and_then(|c| c.values().next())
                    .and_then(|m| m["schema"].as_object())
            })
            .unwrap_or_else(|| panic!("no schema for {method} {path} {status}"));
        let mut full = Value::Object(schema.clone());
        full["components"] = self.doc["components"].clone();
        let validator = jsonschema::validator_for(&full).expect("schema compiles");
        validator
            .iter_errors(body)
            .map(|e| format!("{method} {path} {status}: {} at {}", e, e.instance_path()))
            .collect()
    }
}

#[tokio::test]
async fn the_sandbox_answers_validate_against_kbs_openapi_documents() {
    let sandbox = sandbox(|_| {}).await;
    let client = client_for(&sandbox);
    let on = onboard(&client).await;
    let adaa = Contract::load(ADAA);
    let registration = Contract::load(REGISTRATION);

    let ca = reqwest::Certificate::from_pem(&std::fs::read(&sandbox.ca_cert_path).expect("ca"))
        .expect("pem");
    let mut identity = std::fs::read(&sandbox.client_cert_path).expect("cert");
    identity.extend(std::fs::read(&sandbox.client_key_path).expect("key"));
    let http = reqwest::Client::builder()
        .add_root_certificate(ca)
        .identity(reqwest::Identity::from_pem(&identity).expect("identity"))
        .build()
        .expect("http");
    let keys = sandbox.api_keys.production.clone();
    let base = format!("{}/adaa/v2", sandbox.api_base_url);
    let token = on.access_token.expose().clone();
    let call =
        |method: reqwest::Method, url: String, body: Option<Value>, token: Option<String>| {
            let mut request = http
                .request(method, url)
                .header("apiKey", &keys.adaa)
                .header("x-correlation-id", uuid::Uuid::new_v4().to_string());
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(body) = body {
                request = request.json(&body);
            }
            async move {
                let response = request.send().await.expect("send");
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap_or(Value::Null);
                (status, body)
            }
        };
    let account = on.account_id.clone();
    let mut problems = Vec::new();
    // The validator has teeth: a wrong shape is reported.
    assert!(
        !adaa
            .check(
                "get",
                "/accounts",
                200,
                &json!([{"accountId": 1, "iban": false}])
            )
            .is_empty()
    );
    assert!(
        !adaa
            .check(
                "get",
                "/accounts/{accountId}/balances",
                200,
                &json!({"balances": "none"})
            )
            .is_empty()
    );

    let (status, body) = call(
        reqwest::Method::GET,
        format!("{base}/accounts"),
        None,
        Some(token.clone()),
    )
    .await;
    assert_eq!(status, 200);
    problems.extend(adaa.check("get", "/accounts", status, &body));

    let (status, body) = call(
        reqwest::Method::GET,
        format!("{base}/accounts/{account}/balances"),
        None,
        Some(token.clone()),
    )
    .await;
    assert_eq!(status, 200);
    problems.extend(adaa.check("get", "/accounts/{accountId}/balances", status, &body));

    let today = crate::helpers::real_now();
    let from = kasa::bank::format_kb_datetime(today - time::Duration::days(365)).expect("date");
    let to = kasa::bank::format_kb_datetime(today).expect("date");
    let (status, body) = call(
        reqwest::Method::GET,
        format!("{base}/accounts/{account}/transactions?fromDateTime={from}&toDateTime={to}&size=100&page=0"),
        None,
        Some(token.clone()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert!(body["content"].as_array().is_some_and(|c| !c.is_empty()));
    problems.extend(adaa.check("get", "/accounts/{accountId}/transactions", status, &body));

    let (status, body) = call(
        reqwest::Method::POST,
        format!("{base}/accounts/{account}/transactions/event-subscriptions"),
        Some(json!({"eventApiUrl": "http://127.0.0.1:9/events", "eventApiKey": "a-key-of-some-length-123"})),
        Some(token.clone()),
    )
    .await;
    if status == 201 {
        problems.extend(adaa.check(
            "post",
            "/accounts/{accountId}/transactions/event-subscriptions",
            status,
            &body,
        ));
        let id = body["subscriptionId"].as_str().unwrap_or("").to_owned();
        let (status, body) = call(
            reqwest::Method::GET,
            format!("{base}/accounts/{account}/transactions/event-subscriptions/{id}"),
            None,
            Some(token.clone()),
        )
        .await;
        assert_eq!(status, 200);
        problems.extend(adaa.check(
            "get",
            "/accounts/{accountId}/transactions/event-subscriptions/{subscriptionId}",
            status,
            &body,
        ));
    } else {
        // The Event API at that address does not answer `GET /version`: KB refuses the
        // subscription, with an error body from the contract.
        problems.extend(adaa.check(
            "post",
            "/accounts/{accountId}/transactions/event-subscriptions",
            status,
            &body,
        ));
    }

    let from = kasa::bank::format_kb_datetime(today - time::Duration::days(400)).expect("date");
    let (status, body) = call(
        reqwest::Method::GET,
        format!("{base}/accounts/{account}/statements?dateFrom={from}"),
        None,
        Some(token.clone()),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    problems.extend(adaa.check("get", "/accounts/{accountId}/statements", status, &body));

    // Error answers: an account the client may not see, and a malformed request.
    let (status, body) = call(
        reqwest::Method::GET,
        format!("{base}/accounts/Q1oxMjM0NTY3ODkwMTIzNDU2Nzg5MDpDWks/balances"),
        None,
        Some(token.clone()),
    )
    .await;
    // KB answers "account not configured" (400) or "no access" (403); both are in the contract.
    assert!(status == 400 || status == 403, "{status} {body}");
    problems.extend(adaa.check("get", "/accounts/{accountId}/balances", status, &body));
    let (status, body) = call(
        reqwest::Method::GET,
        format!("{base}/accounts/{account}/transactions?size=5000"),
        None,
        Some(token.clone()),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    problems.extend(adaa.check("get", "/accounts/{accountId}/transactions", status, &body));

    // Client Registration: the statement is a JWT string; an invalid request is a 422 body.
    let statement = http
        .post(format!("{}/client-registration/v3/software-statements", sandbox.api_base_url))
        .header("apiKey", &keys.client_registration)
        .header("x-correlation-id", uuid::Uuid::new_v4().to_string())
        .json(&json!({
            "softwareName": "Kasa pro spolky", "softwareId": "kasa", "softwareVersion": "1.0",
            "redirectUris": [REDIRECT_URI], "registrationBackUri": BACK_URI,
            "tokenEndpointAuthMethod": "client_secret_post", "grantTypes": ["authorization_code", "refresh_token"],
            "responseTypes": ["code"], "contacts": ["email: provoz@kasa.example"]
        }))
        .send()
        .await
        .expect("statement");
    assert_eq!(statement.status(), 201);
    let jwt = statement.text().await.expect("jwt");
    problems.extend(registration.check("post", "/software-statements", 201, &Value::String(jwt)));
    let invalid = http
        .post(format!(
            "{}/client-registration/v3/software-statements",
            sandbox.api_base_url
        ))
        .header("apiKey", &keys.client_registration)
        .header("x-correlation-id", uuid::Uuid::new_v4().to_string())
        .json(&json!({"softwareName": "K"}))
        .send()
        .await
        .expect("invalid");
    let status = invalid.status().as_u16();
    assert!(status == 400 || status == 422, "{status}");
    let body: Value = invalid.json().await.expect("error json");
    problems.extend(registration.check("post", "/software-statements", status, &body));

    assert!(problems.is_empty(), "{problems:#?}");
    sandbox.shutdown().await;
}
