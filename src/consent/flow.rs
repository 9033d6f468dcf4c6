//! The connect, renew and disconnect journeys.

use super::store::{self, FlowRow, FlowStep};
use super::{CONSENT_LIFETIME, ConnectionStatus, Consent};
use crate::audit::{self, Actor};
use crate::auth::User;
use crate::bank::wire::{ClientCredentials, SoftwareStatementRequest, SubscriptionRequest};
use crate::bank::{self, RegistrationCallback, RegistrationParams, Secret};
use crate::db::tenant::{Tenant, TenantKey, TenantTx};
use crate::sync::AccessTokens;
use crate::vault::{self, Binding};
use base64::Engine;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

/// How long a `state` stays valid.
pub const FLOW_LIFETIME: Duration = Duration::minutes(10);

/// Where to send the browser next, and the `state` to keep in the session for the way back.
#[derive(Debug)]
pub struct Redirect {
    pub url: String,
    pub state: Secret<String>,
}

/// A finished journey.
#[derive(Debug, Clone, Copy)]
pub struct Connected {
    pub tenant_id: Uuid,
    pub connection_id: Uuid,
    pub renewed: bool,
    pub accounts: usize,
}

/// Why a journey step failed, by outcome. Every failure leaves nothing half-connected.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the club already has a bank connection")]
    AlreadyConnected,
    #[error("the club has no connection to renew")]
    NothingToRenew,
    /// Replayed, expired, foreign (another session, person or club) or missing `state`.
    #[error("the return from the bank does not belong to this journey (or it expired)")]
    InvalidState,
    #[error("the journey was cancelled at the bank")]
    Cancelled,
    #[error("the bank's answer could not be decrypted or read")]
    BadCallback,
    #[error("KB refused: {0}")]
    Bank(#[from] bank::Error),
    #[error(transparent)]
    Vault(#[from] vault::Error),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn hash(text: &str) -> Vec<u8> {
    Sha256::digest(text.as_bytes()).to_vec()
}

/// The session's binding for consent journeys: the SHA-256 of a random value kept in the
/// session (see `web::pages::bank`).
pub fn session_binding(session_nonce: &str) -> Vec<u8> {
    hash(&format!("kasa-consent-binding|{session_nonce}"))
}

fn actor(user: &User) -> Actor {
    Actor {
        user_id: Some(user.id),
        email: Some(user.email.to_string()),
    }
}

impl Consent {
    fn binding(tenant: Uuid, connection: Uuid, field: &str) -> Binding<'_> {
        Binding {
            tenant,
            record: connection,
            field,
        }
    }

    /// The operator's software statement for Kasa's redirect addresses: reused while valid for
    /// more than 30 days, otherwise requested from Client Registration (mTLS).
    pub async fn software_statement(&self) -> Result<String, Error> {
        let now = self.clock.now();
        let (redirect, back) = (self.redirect_uri(), self.registration_back_uri());
        if let Some(statement) =
            store::usable_statement(&self.pool, &redirect, &back, now + Duration::days(30)).await?
        {
            return Ok(statement);
        }
        let request = SoftwareStatementRequest::new(
            "Kasa pro spolky",
            "kasa",
            env!("CARGO_PKG_VERSION"),
            vec![redirect.clone()],
            back.clone(),
            vec!["email: provoz@kasa.example".to_owned()],
        );
        let statement = self.kb.software_statement(&request).await?;
        let expires = statement
            .claims()
            .and_then(|c| c.exp)
            .and_then(|exp| OffsetDateTime::from_unix_timestamp(exp).ok())
            .unwrap_or(now + CONSENT_LIFETIME);
        store::save_statement(&self.pool, &statement.0, &redirect, &back, now, expires).await?;
        Ok(statement.0)
    }

    /// Step 0 of connecting: the application-registration redirect.
    #[tracing::instrument(skip_all, fields(club = %tenant.key(), user_id = %user.id))]
    pub async fn start_connect(
        &self,
        tenant: &Tenant,
        club_name: &str,
        user: &User,
        binding: &[u8],
    ) -> Result<Redirect, Error> {
        if store::live_connection(&self.pool, tenant.id())
            .await?
            .is_some()
        {
            return Err(Error::AlreadyConnected);
        }
        let statement = self.software_statement().await?;
        let state = random_token();
        let pending = self.kb.registration_url(&RegistrationParams {
            client_name: format!("Kasa – {club_name}"),
            client_name_en: Some(format!("Kasa – {club_name}")),
            application_type: "web".into(),
            redirect_uris: vec![self.redirect_uri()],
            scopes: vec!["adaa".into()],
            software_statement: statement,
            state: Some(state.clone()),
        })?;
        let now = self.clock.now();
        let connection_id = Uuid::now_v7();
        let key_enc = self.vault.seal_str(
            &pending.encryption_key,
            Self::binding(tenant.id(), connection_id, "registration_key"),
        )?;
        let mut conn = self.pool.acquire().await?;
        store::insert_flow(
            &mut conn,
            &hash(&state),
            &FlowRow {
                tenant_id: tenant.id(),
                user_id: user.id.into(),
                session_binding: binding.to_vec(),
                connection_id,
                step: FlowStep::Registration,
                registration_key_enc: Some(key_enc),
                kb_client_id: None,
                client_secret_enc: None,
                expires_at: now + FLOW_LIFETIME,
            },
            now,
        )
        .await?;
        Ok(Redirect {
            url: pending.url,
            state: Secret::new(state),
        })
    }

    /// Renewal repeats only the authorization step with the registered client.
    #[tracing::instrument(skip_all, fields(club = %tenant.key(), user_id = %user.id))]
    pub async fn start_renew(
        &self,
        tenant: &Tenant,
        user: &User,
        binding: &[u8],
    ) -> Result<Redirect, Error> {
        let row = store::live_connection(&self.pool, tenant.id())
            .await?
            .ok_or(Error::NothingToRenew)?;
        let (Some(client_id), Some(secret_enc)) = (row.kb_client_id, row.client_secret_enc) else {
            return Err(Error::NothingToRenew);
        };
        self.authorization_redirect(
            tenant.id(),
            user.id.into(),
            binding,
            row.id,
            client_id,
            secret_enc,
        )
        .await
    }

    async fn authorization_redirect(
        &self,
        tenant_id: Uuid,
        user_id: Uuid,
        binding: &[u8],
        connection_id: Uuid,
        client_id: String,
        client_secret_enc: String,
    ) -> Result<Redirect, Error> {
        let state = random_token();
        let url = self
            .kb
            .authorization_url(&client_id, &self.redirect_uri(), &["adaa"], &state);
        let now = self.clock.now();
        let mut conn = self.pool.acquire().await?;
        store::insert_flow(
            &mut conn,
            &hash(&state),
            &FlowRow {
                tenant_id,
                user_id,
                session_binding: binding.to_vec(),
                connection_id,
                step: FlowStep::Authorization,
                registration_key_enc: None,
                kb_client_id: Some(client_id),
                client_secret_enc: Some(client_secret_enc),
                expires_at: now + FLOW_LIFETIME,
            },
            now,
        )
        .await?;
        Ok(Redirect {
            url,
            state: Secret::new(state),
        })
    }

    /// Takes the flow the session's `state` names, checking step, expiry, session and person.
    async fn take_flow(
        &self,
        session_state: Option<&str>,
        returned_state: Option<&str>,
        binding: &[u8],
        user: &User,
        step: FlowStep,
    ) -> Result<FlowRow, Error> {
        let state = session_state.ok_or(Error::InvalidState)?;
        if let Some(returned) = returned_state {
            // KB echoes the state; it must be ours (constant-time comparison).
            if !bool::from(returned.as_bytes().ct_eq(state.as_bytes())) {
                return Err(Error::InvalidState);
            }
        }
        let mut conn = self.pool.acquire().await?;
        let flow = store::take_flow(&mut conn, &hash(state))
            .await?
            .ok_or(Error::InvalidState)?;
        // The journey's span learns the club only now (`club` is declared empty on it).
        tracing::Span::current().record(
            "club",
            tracing::field::display(TenantKey::from_id(flow.tenant_id.into())),
        );
        let bound = bool::from(flow.session_binding.as_slice().ct_eq(binding));
        if !bound
            || flow.user_id != user.id
            || flow.step != step
            || flow.expires_at <= self.clock.now()
        {
            return Err(Error::InvalidState);
        }
        // The person must still be allowed to connect the club's bank.
        match crate::team::membership(&self.pool, flow.tenant_id.into(), user.id).await? {
            Some((_, _, role)) if role >= crate::team::Role::Treasurer => Ok(flow),
            _ => Err(Error::InvalidState),
        }
    }

    /// Step 1 back: KB's encrypted client credentials. Continues with the authorization.
    #[tracing::instrument(skip_all, fields(club = tracing::field::Empty, user_id = %user.id))]
    pub async fn registration_callback(
        &self,
        session_state: Option<&str>,
        binding: &[u8],
        user: &User,
        raw_query: &str,
    ) -> Result<Redirect, Error> {
        let callback = RegistrationCallback::from_query(raw_query).map_err(|_| Error::BadCallback);
        let returned = callback.as_ref().ok().and_then(|c| c.state.clone());
        let flow = self
            .take_flow(
                session_state,
                returned.as_deref(),
                binding,
                user,
                FlowStep::Registration,
            )
            .await?;
        let key_enc = flow
            .registration_key_enc
            .as_deref()
            .ok_or(Error::InvalidState)?;
        let key = self.vault.open_str(
            key_enc,
            Self::binding(flow.tenant_id, flow.connection_id, "registration_key"),
        )?;
        let registered = callback?.decrypt(&key).map_err(|_| Error::BadCallback)?;
        if let (Some(inside), Some(state)) = (registered.state.as_deref(), session_state)
            && !bool::from(inside.as_bytes().ct_eq(state.as_bytes()))
        {
            return Err(Error::InvalidState);
        }
        let secret_enc = self.vault.seal_str(
            &registered.client_secret,
            Self::binding(flow.tenant_id, flow.connection_id, "client_secret"),
        )?;
        self.authorization_redirect(
            flow.tenant_id,
            user.id.into(),
            binding,
            flow.connection_id,
            registered.client_id,
            secret_enc,
        )
        .await
    }

    /// Step 2 back: the authorization code. Exchanges it, stores the tokens, finds the accounts.
    #[allow(clippy::too_many_arguments)]
    #[tracing::instrument(skip_all, fields(club = tracing::field::Empty, user_id = %user.id))]
    pub async fn authorization_callback(
        &self,
        session_state: Option<&str>,
        binding: &[u8],
        user: &User,
        code: Option<&str>,
        returned_state: Option<&str>,
        error: Option<&str>,
    ) -> Result<Connected, Error> {
        let flow = self
            .take_flow(
                session_state,
                returned_state,
                binding,
                user,
                FlowStep::Authorization,
            )
            .await?;
        if error.is_some() {
            return Err(Error::Cancelled);
        }
        let code = code.ok_or(Error::BadCallback)?;
        let (Some(client_id), Some(secret_enc)) =
            (flow.kb_client_id.clone(), flow.client_secret_enc.clone())
        else {
            return Err(Error::InvalidState);
        };
        let secret = self.vault.open_str(
            &secret_enc,
            Self::binding(flow.tenant_id, flow.connection_id, "client_secret"),
        )?;
        let credentials = ClientCredentials {
            client_id: client_id.clone(),
            client_secret: secret,
        };
        let tokens = self
            .kb
            .exchange_code(&credentials, code, &self.redirect_uri())
            .await?;
        let refresh = tokens.refresh_token.clone().ok_or(Error::BadCallback)?;
        let now = self.clock.now();
        let tenant = Tenant::load(&self.pool, flow.tenant_id)
            .await?
            .ok_or(Error::InvalidState)?;
        let b = |field| Self::binding(flow.tenant_id, flow.connection_id, field);
        let refresh_enc = self.vault.seal_str(&refresh, b("refresh_token"))?;
        let access_enc = self
            .vault
            .seal_str(&tokens.access_token, b("access_token"))?;
        let renewed = store::live_connection(&self.pool, flow.tenant_id)
            .await?
            .is_some_and(|c| c.id == flow.connection_id);
        let expires = now + CONSENT_LIFETIME;
        let mut tx = TenantTx::begin(&self.pool, &tenant).await?;
        store::save_tokens(
            &mut tx,
            flow.connection_id,
            flow.tenant_id,
            &client_id,
            &secret_enc,
            &refresh_enc,
            &access_enc,
            now + Duration::seconds(tokens.expires_in.unwrap_or(180).clamp(30, 3600)),
            now,
            expires,
            user.id.into(),
        )
        .await?;
        audit::record(
            &mut tx,
            &actor(user),
            if renewed {
                "bank.renewed"
            } else {
                "bank.connected"
            },
            json!({ "expires": crate::i18n::prague_date(expires).to_string() }),
            now,
        )
        .await?;
        tx.commit().await?;
        let accounts = self
            .discover_accounts(&tenant, flow.connection_id, &tokens.access_token)
            .await?;
        Ok(Connected {
            tenant_id: flow.tenant_id,
            connection_id: flow.connection_id,
            renewed,
            accounts,
        })
    }

    /// Records the accounts the club chose at KB, makes their sync due and subscribes to KB's
    /// notifications for each (polling remains the fallback if that fails).
    async fn discover_accounts(
        &self,
        tenant: &Tenant,
        connection_id: Uuid,
        access_token: &Secret<String>,
    ) -> Result<usize, Error> {
        let accounts = self.kb.accounts(access_token).await?;
        let now = self.clock.now();
        let known = store::subscriptions_of(&self.pool, connection_id).await?;
        for account in &accounts {
            let mut tx = TenantTx::begin(&self.pool, tenant).await?;
            let id = store::insert_account(
                &mut tx,
                Uuid::now_v7(),
                connection_id,
                &account.account_id,
                &account.iban,
                &account.currency,
                account.name_i18n.as_deref(),
                now,
            )
            .await?;
            crate::sync::jobs::enqueue(&mut tx, id, tenant.id(), now).await?;
            tx.commit().await?;
            // A renewal turns the existing (possibly disabled) job back on, due now.
            crate::sync::jobs::enable(&self.pool, id, now).await?;
            if known
                .iter()
                .any(|(_, kb_account)| kb_account == &account.account_id)
            {
                continue;
            }
            let key = Secret::new(random_token());
            let request = SubscriptionRequest {
                event_api_url: self.event_api_url(),
                event_api_key: key.clone(),
            };
            match self
                .kb
                .create_event_subscription(access_token, &account.account_id, &request)
                .await
            {
                Ok(info) => {
                    store::save_subscription(
                        &self.pool,
                        &info.subscription_id,
                        id,
                        tenant.id(),
                        &super::events::key_hash(key.expose()),
                        now,
                    )
                    .await?;
                }
                Err(error) => {
                    tracing::warn!(%error, "KB event subscription failed; the account is polled instead");
                }
            }
        }
        Ok(accounts.len())
    }

    /// Disconnects: unsubscribes at KB (best effort, with an access token while the connection
    /// is active), forgets every secret, stops the sync; the synced history stays (a later
    /// connect resumes the same accounts) unless `delete_history`, which deletes every account
    /// of the club with all that refers to it, in the same transaction.
    #[tracing::instrument(skip_all, fields(club = %tenant.key(), user_id = %user.id, delete_history = delete_history))]
    pub async fn disconnect(
        &self,
        tenant: &Tenant,
        user: &User,
        delete_history: bool,
    ) -> Result<(), Error> {
        let row = store::live_connection(&self.pool, tenant.id())
            .await?
            .ok_or(Error::NothingToRenew)?;
        let access_token = match row.status {
            ConnectionStatus::Active => self.access_token(row.id).await.ok(),
            ConnectionStatus::Broken | ConnectionStatus::Disconnected => None,
        };
        if let Some(token) = access_token {
            for (subscription, kb_account) in store::subscriptions_of(&self.pool, row.id).await? {
                if let Err(error) = self
                    .kb
                    .delete_event_subscription(&token, &kb_account, &subscription)
                    .await
                {
                    tracing::warn!(%error, "could not delete a KB event subscription");
                }
            }
        }
        let accounts = if delete_history {
            store::club_accounts(&self.pool, tenant.id()).await?
        } else {
            Vec::new()
        };
        let now = self.clock.now();
        let mut tx = TenantTx::begin(&self.pool, tenant).await?;
        store::delete_subscriptions(&mut tx, row.id).await?;
        store::disconnect(&mut tx, row.id, now).await?;
        // "Delete the history too": every account of the club, whichever connection exposed
        // it, with everything that refers to it.
        self.delete_accounts(&mut tx, &accounts, now).await?;
        audit::record(
            &mut tx,
            &actor(user),
            "bank.disconnected",
            json!({ "history_deleted": delete_history }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deletes the history of every account of the club that no live connection exposes (kept
    /// when the club disconnected), with everything that refers to it, audited, in one
    /// transaction. Returns how many accounts went.
    #[tracing::instrument(skip_all, fields(club = %tenant.key(), user_id = %user.id))]
    pub async fn delete_disconnected_history(
        &self,
        tenant: &Tenant,
        user: &User,
    ) -> Result<usize, Error> {
        let connected = store::connected_accounts(&self.pool, tenant.id()).await?;
        let accounts: Vec<Uuid> = store::club_accounts(&self.pool, tenant.id())
            .await?
            .into_iter()
            .filter(|id| !connected.contains(id))
            .collect();
        let now = self.clock.now();
        let mut tx = TenantTx::begin(&self.pool, tenant).await?;
        self.delete_accounts(&mut tx, &accounts, now).await?;
        audit::record(
            &mut tx,
            &actor(user),
            "bank.history_deleted",
            json!({ "accounts": accounts.len() }),
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(accounts.len())
    }

    /// Deletes the accounts in both planes with everything that refers to them (the ledger
    /// hooks forget theirs first), then lets the hooks run once over what is left (matching
    /// reopens or resettles the charges the deleted payments paid).
    async fn delete_accounts(
        &self,
        tx: &mut TenantTx,
        accounts: &[Uuid],
        now: OffsetDateTime,
    ) -> Result<(), sqlx::Error> {
        for id in accounts {
            self.ledger_hook.before_account_deleted(tx, *id).await?;
            crate::sync::ledger::delete_account(tx, *id).await?;
            store::delete_account(tx, *id).await?;
        }
        if let Some(id) = accounts.first() {
            self.ledger_hook.after_apply(tx, *id, now).await?;
        }
        Ok(())
    }
}
