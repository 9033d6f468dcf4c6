//! Access tokens for the sync: cached per connection (KB's live about 3 minutes), refreshed
//! single-flight under the connection's row lock, so several Kasa instances never stampede
//! KB's token endpoint (which answers 429 when hammered).

use super::{ConnectionStatus, Consent, store};
use crate::bank::wire::ClientCredentials;
use crate::bank::{Error as BankError, Secret};
use crate::vault::Binding;
use time::Duration;
use uuid::Uuid;

/// A cached token is used only while it has at least this long to live.
const MARGIN: Duration = Duration::seconds(60);

fn internal(e: impl std::fmt::Display) -> BankError {
    BankError::Protocol(format!("token storage: {e}"))
}

impl crate::sync::AccessTokens for Consent {
    async fn access_token(&self, connection_id: Uuid) -> Result<Secret<String>, BankError> {
        let mut tx = self.pool.begin().await.map_err(internal)?;
        let row = store::lock_connection(&mut tx, connection_id)
            .await
            .map_err(internal)?
            .ok_or_else(|| BankError::ConsentGone {
                reason: "connection not found".into(),
            })?;
        if row.status != ConnectionStatus::Active {
            return Err(BankError::ConsentGone {
                reason: format!("connection is {}", row.status),
            });
        }
        let now = self.clock.now();
        let binding = |field| Binding {
            tenant: row.tenant_id,
            record: row.id,
            field,
        };
        if let (Some(enc), Some(expires)) = (&row.access_token_enc, row.access_token_expires_at)
            && expires - now > MARGIN
        {
            return self
                .vault
                .open_str(enc, binding("access_token"))
                .map_err(internal);
        }
        let (Some(client_id), Some(secret_enc), Some(refresh_enc)) = (
            row.kb_client_id.clone(),
            row.client_secret_enc.clone(),
            row.refresh_token_enc.clone(),
        ) else {
            return Err(BankError::ConsentGone {
                reason: "no stored credentials".into(),
            });
        };
        let credentials = ClientCredentials {
            client_id,
            client_secret: self
                .vault
                .open_str(&secret_enc, binding("client_secret"))
                .map_err(internal)?,
        };
        let refresh = self
            .vault
            .open_str(&refresh_enc, binding("refresh_token"))
            .map_err(internal)?;
        // Still holding the row lock: other instances wait and then find the fresh token.
        let tokens = self
            .kb
            .refresh_access_token(&credentials, &refresh, &self.redirect_uri())
            .await?;
        let sealed = self
            .vault
            .seal_str(&tokens.access_token, binding("access_token"))
            .map_err(internal)?;
        let lifetime = Duration::seconds(tokens.expires_in.unwrap_or(180).clamp(30, 3600));
        store::set_access_token(&mut tx, row.id, Some(&sealed), Some(now + lifetime))
            .await
            .map_err(internal)?;
        tx.commit().await.map_err(internal)?;
        Ok(tokens.access_token)
    }

    async fn invalidate(&self, connection_id: Uuid) {
        let result = async {
            let mut conn = self.pool.acquire().await?;
            store::set_access_token(&mut conn, connection_id, None, None).await
        }
        .await;
        if let Err(error) = result {
            tracing::warn!(%error, "could not drop a cached access token");
        }
    }

    async fn consent_gone(&self, connection_id: Uuid, reason: &str) {
        let result = async {
            let mut tx = self.pool.begin().await?;
            // Re-read under the lock: a renewal may have just replaced the refresh token, in
            // which case the refusal was about the old one and the connection is fine.
            let Some(row) = store::lock_connection(&mut tx, connection_id).await? else {
                return Ok(false);
            };
            if row.status != ConnectionStatus::Active {
                return Ok(false);
            }
            let marked =
                store::mark_broken(&mut tx, connection_id, reason, self.clock.now()).await?;
            tx.commit().await?;
            Ok::<bool, sqlx::Error>(marked)
        }
        .await;
        match result {
            Ok(true) => {
                tracing::warn!(connection = %connection_id, "KB refused the refresh token: connection broken")
            }
            Ok(false) => {}
            Err(error) => tracing::warn!(%error, "could not mark a connection broken"),
        }
    }
}
