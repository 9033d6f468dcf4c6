//! Application Registration pages (`.../saml/register`): the KB user logs in as a demo client,
//! chooses accounts, and is redirected back with `salt` + `encryptedData` (AES-256-GCM, tag
//! appended, no AAD; `state` inside the encrypted JSON) — spec §5.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rand::{Rng, RngCore};
use serde_json::{Value, json};

use super::context::{Ctx, PendingRegistration};
use super::gateway::{Env, Route};
use super::html::{error_page, esc, hidden, page};
use super::jws;
use super::registration::statement_hash;
use super::state::ClientRecord;

/// KB's fixed sandbox encryption key (spec §5.1).
pub const SANDBOX_FIXED_KEY: &str = "MnM1djh5L0I/RShIK01iUWVUaFdtWnEzdDZ3OXokQyY=";

fn query_pairs(raw: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.as_bytes())
        .into_owned()
        .collect()
}

fn param(pairs: &[(String, String)], key: &str) -> Option<String> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
}

fn bad(cz: &str, en: &str) -> Response {
    error_page(StatusCode::BAD_REQUEST, cz, en)
}

/// `GET .../saml/register?registrationRequest=<base64 JSON>&state=...`
pub async fn start(
    State(ctx): State<Ctx>,
    Extension(route): Extension<Route>,
    RawQuery(raw): RawQuery,
) -> Response {
    let pairs = query_pairs(raw.as_deref().unwrap_or(""));
    let Some(encoded) = param(&pairs, "registrationRequest") else {
        return bad(
            "Chybí parametr registrationRequest.",
            "Missing registrationRequest.",
        );
    };
    // Raw standard Base64 in a query: '+' was read as a space.
    let encoded = encoded.replace(' ', "+");
    let Some(request) =
        jws::b64_decode(&encoded).and_then(|b| serde_json::from_slice::<Value>(&b).ok())
    else {
        return bad(
            "registrationRequest není platný standardní Base64 JSON.",
            "registrationRequest is not valid standard Base64 JSON.",
        );
    };
    let s = |k: &str| request.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let redirect_uris = strings(&request, "redirectUris").unwrap_or_default();
    if s("clientName").is_none() || redirect_uris.is_empty() {
        return bad(
            "Chybí clientName nebo redirectUris.",
            "clientName or redirectUris missing.",
        );
    }
    if s("encryptionAlg").as_deref() != Some("AES-256") {
        return bad(
            "encryptionAlg musí být AES-256.",
            "encryptionAlg must be AES-256.",
        );
    }
    let key_b64 = s("encryptionKey").unwrap_or_default();
    if route.env == Env::Sandbox
        && ctx.cfg.quirks.fixed_encryption_key
        && key_b64 != SANDBOX_FIXED_KEY
    {
        return bad(
            "Sandbox přijímá jen pevný šifrovací klíč KB.",
            "The sandbox accepts only KB's fixed encryption key.",
        );
    }
    let Some(key) = jws::b64_decode(&key_b64)
        .filter(|k| k.len() >= 32)
        .map(|k| k[..32].to_vec())
    else {
        return bad(
            "encryptionKey musí být Base64 32bajtového klíče.",
            "encryptionKey must be Base64 of a 32-byte key.",
        );
    };

    let statement = s("softwareStatement").unwrap_or_default();
    let ours = ctx
        .store
        .read()
        .issued_statements
        .contains(&statement_hash(&statement));
    let claims = jws::claims(&statement);
    let foreign_ok = route.env == Env::Sandbox && ctx.cfg.quirks.accept_foreign_software_statements;
    if !(ours || foreign_ok) {
        return bad(
            "Neplatný softwarový výkaz (software statement).",
            "Invalid software statement.",
        );
    }
    if ours {
        let exp = claims
            .as_ref()
            .and_then(|c| c.get("exp"))
            .and_then(|e| e.as_i64())
            .unwrap_or(0);
        if exp < ctx.now().unix_timestamp() {
            return bad(
                "Softwarový výkaz vypršel.",
                "The software statement has expired.",
            );
        }
        let allowed = claims
            .as_ref()
            .and_then(|c| strings(c, "redirectUris"))
            .unwrap_or_default();
        if redirect_uris.iter().any(|u| !allowed.contains(u)) {
            return bad(
                "redirectUris nejsou ve výkazu.",
                "redirectUris are not part of the software statement.",
            );
        }
    }
    let back_from_statement = claims
        .as_ref()
        .and_then(|c| c.get("registrationBackUri"))
        .and_then(|v| v.as_str())
        .map(str::to_owned);
    let back_uri = if route.env == Env::Sandbox && ctx.cfg.quirks.callback_to_first_redirect_uri {
        redirect_uris[0].clone()
    } else {
        back_from_statement.unwrap_or_else(|| redirect_uris[0].clone())
    };

    let id = uuid::Uuid::new_v4().to_string();
    let pending = PendingRegistration {
        request,
        state: param(&pairs, "state"),
        key,
        back_uri,
        created: ctx.now(),
    };
    let name = pending
        .request
        .get("clientName")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .to_owned();
    {
        let now = ctx.now();
        let mut rt = ctx.runtime();
        rt.registrations
            .retain(|_, p| now - p.created < time::Duration::minutes(30));
        rt.registrations.insert(id.clone(), pending);
    }
    login_page(&ctx, &id, &name, None)
}

fn login_page(ctx: &Ctx, id: &str, app_name: &str, error: Option<&str>) -> Response {
    let users = ctx.store.read().users.clone();
    let options: String = users
        .iter()
        .map(|u| {
            format!(
                "<option value=\"{}\">{} – {}</option>",
                esc(&u.user_id),
                esc(&u.user_id),
                esc(&u.name)
            )
        })
        .collect();
    let err = error
        .map(|e| format!("<p class=\"err\">{}</p>", esc(e)))
        .unwrap_or_default();
    page(
        StatusCode::OK,
        "Registrace aplikace (Application registration)",
        &format!(
            "<h1>Registrace aplikace <span class=\"en\">(Application registration)</span></h1>\
<p>Aplikace <strong>{app}</strong> žádá o přímý přístup k vašim účtům. \
<span class=\"en\">(The application requests direct access to your accounts.)</span></p>{err}\
<form method=\"post\">{h1}{h2}<fieldset><legend>Přihlášení <span class=\"en\">(Log in)</span></legend>\
<label>Klient <span class=\"en\">(client)</span>: <select name=\"user\">{options}</select></label><br>\
<label>Heslo <span class=\"en\">(password, any)</span>: <input type=\"password\" name=\"password\"></label>\
</fieldset><p>Potvrzení v KB Klíči se v sandboxu simuluje. <span class=\"en\">(KB Klíč confirmation is simulated.)</span></p>\
<button type=\"submit\">Přihlásit <span class=\"en\">(Log in)</span></button></form>",
            app = esc(app_name),
            h1 = hidden("pending", id),
            h2 = hidden("step", "login"),
        ),
    )
}

/// `POST .../saml/register`: login step, then account choice and redirect.
pub async fn step(
    State(ctx): State<Ctx>,
    Extension(route): Extension<Route>,
    body: Bytes,
) -> Response {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let id = param(&pairs, "pending").unwrap_or_default();
    let Some(pending) = ctx.runtime().registrations.get(&id).cloned() else {
        return bad(
            "Registrace vypršela, začněte znovu.",
            "Registration expired, start again.",
        );
    };
    let user_id = param(&pairs, "user").unwrap_or_default();
    let Some(user) = ctx
        .store
        .read()
        .users
        .iter()
        .find(|u| u.user_id == user_id)
        .cloned()
    else {
        return login_page(&ctx, &id, "", Some("Neznámý klient (unknown client)"));
    };
    let accounts: Vec<(String, String, String)> = {
        let st = ctx.store.read();
        user.account_ids
            .iter()
            .filter_map(|a| {
                st.account(a)
                    .map(|r| (r.account_id.clone(), r.iban.clone(), r.name.clone()))
            })
            .collect()
    };
    if param(&pairs, "step").as_deref() == Some("login") {
        let boxes: String = accounts
            .iter()
            .map(|(id, iban, name)| {
                format!(
                    "<label><input type=\"checkbox\" name=\"account\" value=\"{}\" checked> {} <code>{}</code></label><br>",
                    esc(id),
                    esc(name),
                    esc(iban)
                )
            })
            .collect();
        return page(
            StatusCode::OK,
            "Výběr účtů (Choose accounts)",
            &format!(
                "<h1>Výběr účtů <span class=\"en\">(Choose accounts)</span></h1><p>Přihlášen <span class=\"en\">(logged in)</span>: <strong>{u}</strong></p>\
<form method=\"post\">{h1}{h2}{h3}<fieldset><legend>Účty pro API <span class=\"en\">(accounts exposed to the API)</span></legend>{boxes}</fieldset>\
<button type=\"submit\">Potvrdit KB Klíčem <span class=\"en\">(Confirm with KB Klíč)</span></button></form>",
                u = esc(&user.name),
                h1 = hidden("pending", &id),
                h2 = hidden("step", "confirm"),
                h3 = hidden("user", &user.user_id),
            ),
        );
    }
    let chosen: Vec<String> = pairs
        .iter()
        .filter(|(k, v)| k == "account" && accounts.iter().any(|(a, _, _)| a == v))
        .map(|(_, v)| v.clone())
        .collect();
    if chosen.is_empty() {
        return bad(
            "Vyberte alespoň jeden účet.",
            "Choose at least one account.",
        );
    }
    ctx.runtime().registrations.remove(&id);
    let quoted = route.env == Env::Sandbox && ctx.cfg.quirks.quoted_callback_values;
    finish(&ctx, pending, &user.user_id, &user.bin, chosen, quoted)
}

fn ascii_fold(s: &str) -> String {
    const FROM: &str = "áäčďéěíĺľňóôöŕřšťúůüýžÁÄČĎÉĚÍĹĽŇÓÔÖŔŘŠŤÚŮÜÝŽ";
    const TO: &str = "aacdeeillnooorrstuuuyzAACDEEILLNOOORRSTUUUYZ";
    s.chars()
        .filter_map(|c| {
            let c = FROM
                .chars()
                .position(|f| f == c)
                .and_then(|i| TO.chars().nth(i))
                .unwrap_or(c);
            c.is_ascii_alphanumeric().then_some(c)
        })
        .collect()
}

fn finish(
    ctx: &Ctx,
    p: PendingRegistration,
    user_id: &str,
    bin: &str,
    accounts: Vec<String>,
    quoted: bool,
) -> Response {
    let req = &p.request;
    let s = |k: &str| req.get(k).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    let mut rng = rand::thread_rng();
    let client_id = format!(
        "{}-{:04}",
        ascii_fold(&s("clientName")),
        rng.gen_range(1000..10000)
    );
    let mut secret = [0u8; 16];
    rng.fill_bytes(&mut secret);
    let client_secret = jws::b64url(&secret);
    let redirect_uris = strings(req, "redirectUris").unwrap_or_default();
    let scopes = strings(req, "scope").unwrap_or_else(|| vec!["adaa".to_owned()]);
    let now = ctx.now();
    let claims = jws::claims(&s("softwareStatement")).unwrap_or(Value::Null);
    let contacts: Vec<String> = strings(&claims, "contacts")
        .unwrap_or_default()
        .iter()
        .map(|c| c.trim_start_matches("email:").trim().to_owned())
        .collect();
    let mut data = json!({
        "client_id": client_id,
        "client_secret": client_secret,
        "api_key": "NOT_PROVIDED",
        "application_type": req.get("applicationType").and_then(|v| v.as_str()).unwrap_or("web"),
        "redirect_uris": redirect_uris,
        "client_name": s("clientName"),
        "client_name#en-US": s("clientNameEn"),
        "logo_uri": claims.get("logoUri").cloned().unwrap_or(Value::Null),
        "policy_uri": claims.get("policyUri").cloned().unwrap_or(Value::Null),
        "tos_uri": claims.get("tosUri").cloned().unwrap_or(Value::Null),
        "contact": contacts.first().cloned().unwrap_or_default(),
        "contacts": contacts,
        "scopes": scopes,
        "scope": scopes.join(" "),
        "response_types": ["code"],
        "response_type": "code",
        "grant_types": ["refresh_token", "authorization_code"],
        "subject_type": "public",
        "token_endpoint_auth_method": claims.get("tokenEndpointAuthMethod").and_then(|v| v.as_str()).unwrap_or("client_secret_post"),
        "require_auth_time": false,
        "bin": bin,
        "registration_client_uri": format!("https://caas.kb.cz/openam/json/caas/api/oauth2/register/{client_id}"),
        "client_id_issued_at": now.unix_timestamp(),
    });
    if let Some(state) = &p.state {
        data["state"] = json!(state);
    }
    let Ok(cipher) = Aes256Gcm::new_from_slice(&p.key) else {
        return bad("Neplatný klíč.", "Invalid key.");
    };
    let mut nonce = [0u8; 12];
    rng.fill_bytes(&mut nonce);
    let Ok(ct) = cipher.encrypt(Nonce::from_slice(&nonce), data.to_string().as_bytes()) else {
        return bad("Šifrování selhalo.", "Encryption failed.");
    };
    let (salt, enc) = (jws::b64url(&nonce), jws::b64url(&ct));
    let (salt, enc) = if quoted {
        (format!("\"{salt}\""), format!("\"{enc}\""))
    } else {
        (salt, enc)
    };
    let Ok(mut url) = url::Url::parse(&p.back_uri) else {
        return bad("Neplatná návratová adresa.", "Invalid back URI.");
    };
    url.query_pairs_mut()
        .append_pair("salt", &salt)
        .append_pair("encryptedData", &enc);

    ctx.store.update(|st| {
        st.clients.push(ClientRecord {
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            client_name: s("clientName"),
            redirect_uris: redirect_uris.clone(),
            scopes: scopes.clone(),
            user_id: user_id.to_owned(),
            account_ids: accounts,
            issued_at: now,
        });
    });
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

/// The strings of the JSON array `key` of `value` (other items skipped); `None` without such an
/// array.
fn strings(value: &Value, key: &str) -> Option<Vec<String>> {
    let items = value.get(key)?.as_array()?;
    Some(
        items
            .iter()
            .filter_map(|u| u.as_str().map(str::to_owned))
            .collect(),
    )
}
