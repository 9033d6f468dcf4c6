//! First-start data: demo KB users with generated accounts, API keys, and KB's documented
//! example client (`ExampleClient-6303`) for the Postman collection.

use super::config::ApiKeySet;
use super::config::SandboxConfig;
use super::generator::{GeneratorConfig, generate};
use super::state::{AccountRecord, ClientRecord, DemoUser, State};

/// Client id of KB's documented sandbox example client.
pub const EXAMPLE_CLIENT_ID: &str = "ExampleClient-6303";
/// Its documented secret.
pub const EXAMPLE_CLIENT_SECRET: &str = "bUfDQ1fMmfaSlZBZXlxBOQ";

const USERS: [(&str, &str, &str); 3] = [
    ("Klient 1", "TJ Sokol Horní Dolní", "29145643"),
    ("Klient 2", "Šachový klub Věž", "31415926"),
    ("test", "Testovací klient (test client)", "123456"),
];

/// Builds the initial state.
pub fn initial_state(cfg: &SandboxConfig) -> State {
    let per_user = cfg.seed.accounts_per_user.max(1);
    let generated = generate(&GeneratorConfig {
        seed: cfg.seed.seed,
        accounts: per_user * USERS.len(),
        transactions_per_account: cfg.seed.transactions_per_account,
        days: cfg.seed.days,
        end: cfg.clock.now(),
    });
    let mut state = State {
        format: 1,
        production_keys: ApiKeySet::generate(),
        sandbox_keys: ApiKeySet::generate(),
        ..State::default()
    };
    for (i, (user_id, name, bin)) in USERS.iter().enumerate() {
        let mut ids = Vec::new();
        for g in generated.iter().skip(i * per_user).take(per_user) {
            ids.push(g.account_id.clone());
            let mut transactions = Vec::with_capacity(g.transactions.len());
            for t in &g.transactions {
                super::ledger::insert(&mut transactions, t.clone());
            }
            state.accounts.push(AccountRecord {
                account_id: g.account_id.clone(),
                iban: g.iban.clone(),
                number: g.number.clone(),
                bank_code: g.bank_code.clone(),
                name: g.name.clone(),
                currency: g.currency.clone(),
                opening_balance_minor: g.opening_balance_minor,
                transactions,
                version: 1,
            });
        }
        state.users.push(DemoUser {
            user_id: (*user_id).to_owned(),
            name: (*name).to_owned(),
            bin: (*bin).to_owned(),
            account_ids: ids,
        });
    }
    state
}

/// Adds KB's example client, bound to user `test` and all of its accounts.
pub fn ensure_example_client(state: &mut State, now: time::OffsetDateTime) {
    if state.client(EXAMPLE_CLIENT_ID).is_some() {
        return;
    }
    let accounts = state
        .users
        .iter()
        .find(|u| u.user_id == "test")
        .map(|u| u.account_ids.clone())
        .unwrap_or_default();
    state.clients.push(ClientRecord {
        client_id: EXAMPLE_CLIENT_ID.to_owned(),
        client_secret: EXAMPLE_CLIENT_SECRET.to_owned(),
        client_name: "ExampleClient".to_owned(),
        redirect_uris: vec![
            "https://client.example.org/callback".to_owned(),
            "https://client.example.org/callback-backup".to_owned(),
            "http://localhost:8888/".to_owned(),
        ],
        scopes: vec![
            "adaa".to_owned(),
            "card_data".to_owned(),
            "bpisp".to_owned(),
        ],
        user_id: "test".to_owned(),
        account_ids: accounts,
        issued_at: now,
    });
}
