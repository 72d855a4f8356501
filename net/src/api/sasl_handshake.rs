//! SaslHandshake (key 17): the client names the SASL mechanism it will authenticate with.
//! Only on SASL listeners, before authentication or to re-authenticate (KIP-368); elsewhere
//! the answer is ILLEGAL_SASL_STATE, as Kafka answers.

use crate::codes;
use crate::security::sasl::Exchange;
use crate::server::Ctx;
use kafka_protocol::messages::{ApiKey, SaslHandshakeRequest, SaslHandshakeResponse};
use kafka_protocol::protocol::StrBytes;
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::SaslHandshake;
/// Versions implemented: v1, whose tokens travel in SaslAuthenticate (Kafka 4 removed v0).
pub const VERSIONS: RangeInclusive<i16> = 1..=1;

/// Handles SaslHandshake.
pub async fn handle(ctx: &Ctx, _version: i16, req: SaslHandshakeRequest) -> SaslHandshakeResponse {
    let sasl = &ctx.server.sasl;
    let mechanisms: Vec<StrBytes> = sasl
        .mechanisms
        .iter()
        .map(|m| StrBytes::from_string(m.clone()))
        .collect();
    let resp = SaslHandshakeResponse::default().with_mechanisms(mechanisms);
    if !ctx.server.protocol.sasl() || ctx.identity.exchange.borrow().is_some() {
        return resp.with_error_code(codes::ILLEGAL_SASL_STATE);
    }
    let wanted = req.mechanism.as_str();
    let exchange = sasl
        .mechanisms
        .iter()
        .any(|m| m == wanted)
        .then(|| Exchange::start(wanted))
        .flatten();
    match exchange {
        Some(e) => {
            *ctx.identity.exchange.borrow_mut() = Some(e);
            resp
        }
        None => resp.with_error_code(codes::UNSUPPORTED_SASL_MECHANISM),
    }
}
