//! A scripted KB customer for the sandbox's browser pages: logs in as a demo client, picks the
//! accounts and approves the consent, returning where KB would send the browser back. Used by
//! tests and benchmarks to run the connect journey without a browser.

use reqwest::redirect::Policy;

/// What went wrong while clicking through the sandbox's pages.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    #[error("HTTP: {0}")]
    Http(#[from] reqwest::Error),
    #[error("unexpected page: {0}")]
    Page(String),
}

fn client() -> Result<reqwest::Client, ScriptError> {
    Ok(reqwest::Client::builder()
        .redirect(Policy::none())
        .build()?)
}

fn hidden_value(html: &str, name: &str) -> Option<String> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker)? + marker.len();
    html[start..].split('"').next().map(str::to_owned)
}

fn location(response: &reqwest::Response) -> Result<String, ScriptError> {
    response
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| ScriptError::Page(format!("no redirect (status {})", response.status())))
}

/// Application registration: log in as `user` (e.g. `Klient 1`), keep all offered accounts
/// checked, confirm. Returns the callback URL (Kasa's `/kb/registered?salt=…`).
pub async fn approve_registration(url: &str, user: &str) -> Result<String, ScriptError> {
    register(url, user, usize::MAX).await
}

/// The same with only the first offered account checked (a connection with one account).
pub async fn approve_registration_of_first_account(
    url: &str,
    user: &str,
) -> Result<String, ScriptError> {
    register(url, user, 1).await
}

/// Application registration as `user` with at most `accounts` of the offered accounts checked.
async fn register(url: &str, user: &str, accounts: usize) -> Result<String, ScriptError> {
    let web = client()?;
    let page = web.get(url).send().await?.text().await?;
    let pending = hidden_value(&page, "pending").ok_or_else(|| ScriptError::Page(page.clone()))?;
    let form_url = url.split('?').next().unwrap_or(url).to_owned();
    let page = web
        .post(&form_url)
        .form(&[
            ("pending", pending.as_str()),
            ("step", "login"),
            ("user", user),
        ])
        .send()
        .await?
        .text()
        .await?;
    let mut form = vec![
        ("pending".to_owned(), pending.clone()),
        ("step".into(), "confirm".into()),
        ("user".into(), user.to_owned()),
    ];
    const OFFERED: &str = "name=\"account\" value=\"";
    let offered = page
        .match_indices(OFFERED)
        .filter_map(|(at, _)| page[at + OFFERED.len()..].split('"').next());
    for account in offered.take(accounts) {
        form.push(("account".into(), account.to_owned()));
    }
    if form.len() == 3 {
        return Err(ScriptError::Page(format!("no accounts offered: {page}")));
    }
    let response = web.post(&form_url).form(&form).send().await?;
    location(&response)
}

/// OAuth2 consent as `user`: approve (or deny). Returns the redirect back to the app.
pub async fn answer_consent(url: &str, user: &str, approve: bool) -> Result<String, ScriptError> {
    let web = client()?;
    let page = web.get(url).send().await?;
    if !page.status().is_success() {
        return Err(ScriptError::Page(format!(
            "consent page answered {}",
            page.status()
        )));
    }
    let parsed = url::Url::parse(url).map_err(|e| ScriptError::Page(e.to_string()))?;
    let mut form: Vec<(String, String)> = parsed
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    form.push(("user".into(), user.into()));
    form.push((
        "decision".into(),
        if approve { "approve" } else { "deny" }.into(),
    ));
    let target = format!(
        "{}://{}{}",
        parsed.scheme(),
        parsed.authority(),
        parsed.path()
    );
    let response = web.post(target).form(&form).send().await?;
    location(&response)
}
