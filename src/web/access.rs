//! The club guard: `ClubAccess<C>` is the only way a handler gets a club ([`Tenant`]).
//!
//! It reads `{club}` from the path, checks that the signed-in person is a member of that club
//! (among the clubs `context::load` read with the person) with at least the role capability `C`
//! demands, and only then hands out the tenant. A club
//! that does not exist and a club the person does not belong to look the same (404), so club
//! keys cannot be probed; a member without the needed role gets 403.

use super::AppState;
use super::context::{Ctx, SignedIn};
use super::error::AppError;
use crate::auth::User;
use crate::club::ClubSummary;
use crate::db::tenant::{ClubId, Tenant, TenantKey};
use crate::team::{Capability, Role};
use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use std::marker::PhantomData;

/// Proof that the signed-in person may do `C` in `tenant`.
pub struct ClubAccess<C: Capability> {
    pub ctx: Ctx,
    pub user: User,
    pub tenant: Tenant,
    pub club_name: String,
    pub role: Role,
    _capability: PhantomData<C>,
}

impl<C: Capability> FromRequestParts<AppState> for ClubAccess<C> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let SignedIn { ctx, user } = SignedIn::from_request_parts(parts, state).await?;
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|e| e.into_response())?;
        let tenant_id = params
            .iter()
            .find(|(name, _)| *name == "club")
            .and_then(|(_, value)| TenantKey::parse(value))
            .and_then(|key| key.id())
            .ok_or_else(|| AppError::NotFound.into_response())?;
        // The person's clubs were read with the person for this request (`context::load`).
        let find = |clubs: &[ClubSummary]| {
            clubs
                .iter()
                .find(|c| ClubId(c.tenant.id()) == tenant_id)
                .map(|club| (club.tenant.clone(), club.name.clone(), club.role))
        };
        let mut found = find(&ctx.viewer.clubs);
        // A kept copy may not know a membership or role granted a moment ago (in another
        // request, perhaps in another process): before refusing, ask the database.
        if ctx.viewer.clubs_kept && found.as_ref().is_none_or(|f| f.2 < C::MIN_ROLE) {
            let fresh = super::context::person_read(state, user.id)
                .await
                .map_err(|e| AppError::from(e).into_response())?;
            found = fresh.and_then(|(_, clubs)| find(&clubs));
        }
        let (tenant, club_name, role) = found.ok_or_else(|| AppError::NotFound.into_response())?;
        tracing::Span::current().record("club", tracing::field::display(tenant.key()));
        if role < C::MIN_ROLE {
            return Err(AppError::Forbidden.into_response());
        }
        Ok(ClubAccess {
            ctx,
            user,
            tenant,
            club_name,
            role,
            _capability: PhantomData,
        })
    }
}
