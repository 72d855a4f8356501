//! ApiVersions (key 18): the versions of every implemented API, generated from [`super::APIS`].

use super::{frame, DispatchError, APIS};
use crate::codes;
use crate::server::Ctx;
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse};
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::ApiVersions;
/// Versions implemented.
pub const VERSIONS: RangeInclusive<i16> = 0..=4;

/// Answers ApiVersions. An unsupported version gets UNSUPPORTED_VERSION with the supported
/// ranges in the v0 layout, which every client can read, as Kafka does.
pub fn handle(
    _ctx: &Ctx,
    version: i16,
    correlation_id: i32,
    body: &mut Bytes,
) -> Result<BytesMut, DispatchError> {
    let api_keys: Vec<ApiVersion> = APIS
        .iter()
        .map(|a| {
            ApiVersion::default()
                .with_api_key(a.key as i16)
                .with_min_version(*a.versions.start())
                .with_max_version(*a.versions.end())
        })
        .collect();
    if !VERSIONS.contains(&version) {
        let resp = ApiVersionsResponse::default()
            .with_error_code(codes::UNSUPPORTED_VERSION)
            .with_api_keys(api_keys);
        return frame(API_KEY, 0, correlation_id, &resp);
    }
    let req: ApiVersionsRequest = match super::decode(API_KEY, version, body) {
        Ok(r) => r,
        Err(_) => {
            let resp = ApiVersionsResponse::default()
                .with_error_code(codes::INVALID_REQUEST)
                .with_api_keys(api_keys);
            return frame(API_KEY, version.min(2), correlation_id, &resp);
        }
    };
    tracing::debug!(client = %req.client_software_name, client_version = %req.client_software_version, "api versions");
    let resp = ApiVersionsResponse::default().with_api_keys(api_keys);
    frame(API_KEY, version, correlation_id, &resp)
}
