//! SaslAuthenticate (key 36): one SASL token each way, until the exchange that SaslHandshake
//! started succeeds or fails. A failure is answered with SASL_AUTHENTICATION_FAILED and then
//! the connection closes, as Kafka does. Re-authentication (KIP-368) must keep the principal.

use crate::codes;
use crate::security::sasl::{Step, Verifier};
use crate::server::Ctx;
use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::ScramCredential;
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::SaslAuthenticate;
/// Versions implemented (v1 adds the session lifetime, v2 is flexible).
pub const VERSIONS: RangeInclusive<i16> = 0..=2;

/// What the connection does after the response goes out.
pub enum After {
    /// Carry on.
    Continue,
    /// Close: authentication failed.
    Close,
}

/// Handles SaslAuthenticate.
pub async fn handle(
    ctx: &Ctx,
    _version: i16,
    req: SaslAuthenticateRequest,
) -> (SaslAuthenticateResponse, After) {
    let resp = SaslAuthenticateResponse::default();
    let taken = ctx.identity.exchange.borrow_mut().take();
    let Some(mut exchange) = taken else {
        let resp = resp
            .with_error_code(codes::ILLEGAL_SASL_STATE)
            .with_error_message(Some(StrBytes::from_static_str(
                "SaslAuthenticate without a SaslHandshake",
            )));
        return (resp, After::Close);
    };
    let image = ctx.shard.metadata();
    let lookup = |user: &str, mechanism: u8| -> Option<ScramCredential> {
        image
            .security()
            .scram
            .get(user)
            .and_then(|m| m.get(&mechanism))
            .cloned()
    };
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let verifier = Verifier {
        plain_users: &ctx.server.sasl.plain_users,
        scram: lookup,
        oauth: ctx.server.sasl.oauth.as_ref(),
        now_ms,
    };
    let step = exchange.step(&req.auth_bytes, &verifier);
    match step {
        Step::Continue(token) => {
            *ctx.identity.exchange.borrow_mut() = Some(exchange);
            (resp.with_auth_bytes(Bytes::from(token)), After::Continue)
        }
        Step::Done {
            principal,
            token,
            expires_ms,
        } => {
            if ctx.identity.is_authenticated() && ctx.principal() != principal {
                let message = format!(
                    "cannot change principals during re-authentication from {}: {principal}",
                    ctx.principal()
                );
                let resp = resp
                    .with_error_code(codes::SASL_AUTHENTICATION_FAILED)
                    .with_error_message(Some(StrBytes::from_string(message)));
                return (resp, After::Close);
            }
            let mut lifetime = ctx.server.sasl.max_reauth_ms.max(0);
            // As Kafka: with re-authentication on, an OAUTHBEARER session also ends with its
            // token.
            if let (Some(exp), true) = (expires_ms, lifetime > 0) {
                lifetime = lifetime.min(exp.saturating_sub(now_ms).max(1));
            }
            let expires = (lifetime > 0).then(|| {
                std::time::Instant::now() + std::time::Duration::from_millis(lifetime as u64)
            });
            tracing::debug!(%principal, peer = %ctx.peer, "authenticated");
            ctx.identity.authenticated_as(principal, expires);
            let resp = resp
                .with_auth_bytes(Bytes::from(token))
                .with_session_lifetime_ms(lifetime);
            (resp, After::Continue)
        }
        Step::Failed(message) => {
            myelin_metrics::record(|m| m.authentication_failures.add(1));
            tracing::info!(peer = %ctx.peer, "authentication failed: {message}");
            let resp = resp
                .with_error_code(codes::SASL_AUTHENTICATION_FAILED)
                .with_error_message(Some(StrBytes::from_string(message)));
            (resp, After::Close)
        }
    }
}
