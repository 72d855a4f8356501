//! Where quotas meet requests: the byte quotas on Produce and Fetch, the request quota on
//! the time a request keeps its shard busy, and the connection mute that follows a
//! violation (KIP-219: the response goes out at once with `throttle_time_ms`, then the
//! connection's next request waits out the throttle).

use super::{user_of, QuotaKind, Quotas};
use crate::api::{self, DispatchError};
use crate::server::Ctx;
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, FetchResponse, RequestHeader};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// The client id of a request header (empty when absent).
pub fn client_id(header: &RequestHeader) -> String {
    header
        .client_id
        .as_ref()
        .map(|c| c.to_string())
        .unwrap_or_default()
}

fn record(ctx: &Ctx, kind: QuotaKind, client_id: &str, value: f64) -> u64 {
    let image = ctx.shard.metadata();
    let principal = ctx.principal();
    let now = ctx.quotas.now_ms();
    ctx.quotas.record(
        &image.security().quotas,
        kind,
        user_of(&principal),
        client_id,
        value,
        now,
    )
}

fn ms_i32(ms: u64) -> i32 {
    i32::try_from(ms).unwrap_or(i32::MAX)
}

/// Records a Produce request's bytes; mutes the connection when over
/// `producer_byte_rate` and returns the throttle time for the response. Recorded as the
/// request arrives (Kafka records once appended), so the mute is in place before the
/// connection's next request is read.
pub fn produce(ctx: &Ctx, header: &RequestHeader, request_bytes: usize) -> i32 {
    let t = record(
        ctx,
        QuotaKind::Produce,
        &client_id(header),
        request_bytes as f64,
    );
    ctx.mute.extend(t);
    ms_i32(t)
}

/// The `max_bytes` a Fetch may return under `consumer_byte_rate`: at most one quota
/// window's worth (Kafka's `getMaxValueInQuotaWindow`).
pub fn fetch_max_bytes(ctx: &Ctx, header: &RequestHeader, max_bytes: i32) -> i32 {
    let image = ctx.shard.metadata();
    let principal = ctx.principal();
    match Quotas::max_in_window(
        &image.security().quotas,
        QuotaKind::Fetch,
        user_of(&principal),
        &client_id(header),
    ) {
        Some(cap) if cap < f64::from(max_bytes) => (cap as i32).max(1),
        _ => max_bytes,
    }
}

/// Records a Fetch response's bytes. Within quota: the response as it is. Over
/// `consumer_byte_rate`: the bytes are taken back and the client gets an empty response
/// with the throttle time (as Kafka answers), and the connection is muted.
pub fn fetch(
    ctx: &Ctx,
    header: &RequestHeader,
    response: FetchResponse,
    frame: BytesMut,
) -> Result<BytesMut, DispatchError> {
    let client = client_id(header);
    let bytes = frame.len() as f64;
    let t = record(ctx, QuotaKind::Fetch, &client, bytes);
    if t == 0 {
        return Ok(frame);
    }
    let image = ctx.shard.metadata();
    let principal = ctx.principal();
    let now = ctx.quotas.now_ms();
    ctx.quotas.unrecord(
        &image.security().quotas,
        QuotaKind::Fetch,
        user_of(&principal),
        &client,
        bytes,
        now,
    );
    ctx.mute.extend(t);
    let empty = FetchResponse::default()
        .with_throttle_time_ms(ms_i32(t))
        .with_session_id(response.session_id);
    api::frame(
        ApiKey::Fetch,
        header.request_api_version,
        header.correlation_id,
        &empty,
    )
}

/// Requests whose handling time the request quota does not count (Kafka exempts them).
fn exempt(key: i16) -> bool {
    [
        ApiKey::ApiVersions,
        ApiKey::SaslHandshake,
        ApiKey::SaslAuthenticate,
    ]
    .iter()
    .any(|k| *k as i16 == key)
}

/// Runs a request through [`api::dispatch`], counting the time its task spends on the shard
/// (the time Kafka counts on a request-handler thread) against `request_percentage`.
pub async fn dispatch(
    ctx: &Ctx,
    header: &RequestHeader,
    body: Bytes,
    dispatched: futures::channel::oneshot::Sender<()>,
) -> Result<Option<BytesMut>, DispatchError> {
    let (out, busy) = Busy::new(api::dispatch(ctx, header, body, dispatched)).await;
    if !exempt(header.request_api_key) {
        // Percent of one thread per second: busy seconds × 100.
        let percent = busy.as_secs_f64() * 100.0;
        let t = record(ctx, QuotaKind::Request, &client_id(header), percent);
        ctx.mute.extend(t);
    }
    out
}

/// A future that adds up the time spent in its `poll`s.
struct Busy<F> {
    inner: Pin<Box<F>>,
    busy: Duration,
}

impl<F: Future> Busy<F> {
    fn new(f: F) -> Busy<F> {
        Busy {
            inner: Box::pin(f),
            busy: Duration::ZERO,
        }
    }
}

impl<F: Future> Future for Busy<F> {
    type Output = (F::Output, Duration);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let start = std::time::Instant::now();
        let r = self.inner.as_mut().poll(cx);
        self.busy += start.elapsed();
        r.map(|out| (out, self.busy))
    }
}
