//! Client quotas and connection limits as Kafka enforces them (KIP-13, KIP-55, KIP-124,
//! KIP-219, KIP-612): which quota applies to a (user, client-id) pair, a windowed rate per
//! quota entity, and the throttle time a client over its quota gets.
//!
//! State is per shard: every shard keeps its own rates ([`Quotas`]) and its own connection
//! counts ([`connections::Connections`]), and shards do not share them. Kafka's quotas are per
//! broker; a Myelin connection is served by exactly one shard, so a client with one connection
//! (the usual producer or consumer: one connection per broker) is held to exactly the Kafka
//! limit, and a client whose connections land on several shards can get up to the limit on
//! each of them. The limits are not divided by the shard count, because that would hold the
//! common single-connection client to a fraction of its quota.
//!
//! Everything here is sans-IO: time comes in as milliseconds from the caller's clock.

pub mod connections;
pub mod enforce;
pub mod rate;

use myelin_replication::cluster::security::QuotaEntity;
use rate::Rate;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};

/// The quotas a client's traffic is measured against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaKind {
    /// `producer_byte_rate`: Produce request bytes per second.
    Produce,
    /// `consumer_byte_rate`: Fetch response bytes per second.
    Fetch,
    /// `request_percentage`: percent of one request-handling thread.
    Request,
}

impl QuotaKind {
    /// Kafka's quota key.
    pub fn key(self) -> &'static str {
        match self {
            QuotaKind::Produce => "producer_byte_rate",
            QuotaKind::Fetch => "consumer_byte_rate",
            QuotaKind::Request => "request_percentage",
        }
    }
}

/// The quota a client falls under: the bound, and the sensor its traffic is counted on.
/// The sensor is named by the real user and client id (empty where the matching entity
/// does not name that part), so every user under `/users/<default>` has a rate of its own.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// The user part of the sensor, or empty.
    pub user: String,
    /// The client-id part of the sensor, or empty.
    pub client_id: String,
    /// The quota value.
    pub bound: f64,
}

/// Quota values by entity, as the metadata image holds them.
pub type QuotaTable = BTreeMap<QuotaEntity, BTreeMap<String, u64>>;

fn entity(user: Option<Option<&str>>, client: Option<Option<&str>>) -> QuotaEntity {
    let mut e = Vec::new();
    if let Some(c) = client {
        e.push(("client-id".to_string(), c.map(str::to_string)));
    }
    if let Some(u) = user {
        e.push(("user".to_string(), u.map(str::to_string)));
    }
    e
}

/// Which quota for `key` applies to `user` and `client_id`, in Kafka's precedence order:
/// `/users/<u>/clients/<c>`, `/users/<u>/clients/<default>`, `/users/<u>`,
/// `/users/<default>/clients/<c>`, `/users/<default>/clients/<default>`,
/// `/users/<default>`, `/clients/<c>`, `/clients/<default>`. `None`: no quota.
pub fn resolve(table: &QuotaTable, key: &str, user: &str, client_id: &str) -> Option<Resolved> {
    let (u, c) = (Some(user), Some(client_id));
    // (entity, whether the sensor names the user, whether it names the client id)
    let order = [
        (entity(Some(u), Some(c)), true, true),
        (entity(Some(u), Some(None)), true, true),
        (entity(Some(u), None), true, false),
        (entity(Some(None), Some(c)), true, true),
        (entity(Some(None), Some(None)), true, true),
        (entity(Some(None), None), true, false),
        (entity(None, Some(c)), false, true),
        (entity(None, Some(None)), false, true),
    ];
    order.iter().find_map(|(e, by_user, by_client)| {
        let bits = table.get(e)?.get(key)?;
        Some(Resolved {
            user: if *by_user { user.into() } else { String::new() },
            client_id: if *by_client {
                client_id.into()
            } else {
                String::new()
            },
            bound: f64::from_bits(*bits),
        })
    })
}

/// The user name Kafka's quotas use for a principal (`User:alice` → `alice`).
pub fn user_of(principal: &str) -> &str {
    principal.split_once(':').map_or(principal, |(_, n)| n)
}

/// Most sensors a shard keeps; idle ones are dropped first. Bounds memory against a client
/// that invents a new client id per connection.
pub const SENSORS_MAX: usize = 10_000;

/// A sensor idle this long is forgotten (its rate has long decayed to zero).
const SENSOR_IDLE_MS: u64 = 2 * rate::WINDOW_SAMPLES as u64 * rate::WINDOW_MS;

struct Sensor {
    rate: Rate,
    used_ms: u64,
}

/// One shard's quota rates.
pub struct Quotas {
    sensors: RefCell<HashMap<(QuotaKind, String, String), Sensor>>,
    start: std::time::Instant,
}

impl Default for Quotas {
    fn default() -> Quotas {
        Quotas {
            sensors: RefCell::default(),
            start: std::time::Instant::now(),
        }
    }
}

impl Quotas {
    /// Milliseconds on this shard's monotonic quota clock.
    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Records `value` for the client against the quota that applies to it and returns the
    /// throttle time in ms (0 when within quota or when no quota applies).
    pub fn record(
        &self,
        table: &QuotaTable,
        kind: QuotaKind,
        user: &str,
        client_id: &str,
        value: f64,
        now_ms: u64,
    ) -> u64 {
        let Some(q) = resolve(table, kind.key(), user, client_id) else {
            return 0;
        };
        let mut sensors = self.sensors.borrow_mut();
        let id = (kind, q.user, q.client_id);
        if !sensors.contains_key(&id) && sensors.len() >= SENSORS_MAX {
            sensors.retain(|_, s| now_ms.saturating_sub(s.used_ms) < SENSOR_IDLE_MS);
            if sensors.len() >= SENSORS_MAX {
                return 0;
            }
        }
        let s = sensors.entry(id).or_insert_with(|| Sensor {
            rate: Rate::new(now_ms),
            used_ms: now_ms,
        });
        s.used_ms = now_ms;
        let t = s.rate.record_and_throttle_ms(value, q.bound, now_ms);
        match kind {
            // Kafka caps a request-quota throttle at one window (ClientRequestQuotaManager).
            QuotaKind::Request => t.min(rate::WINDOW_MS),
            _ => t,
        }
    }

    /// Takes back a recorded value (Kafka unrecords the bytes of a fetch it throttles, since
    /// the throttled response carries none).
    pub fn unrecord(
        &self,
        table: &QuotaTable,
        kind: QuotaKind,
        user: &str,
        client_id: &str,
        value: f64,
        now_ms: u64,
    ) {
        let Some(q) = resolve(table, kind.key(), user, client_id) else {
            return;
        };
        if let Some(s) = self
            .sensors
            .borrow_mut()
            .get_mut(&(kind, q.user, q.client_id))
        {
            s.rate.record(-value, now_ms);
        }
    }

    /// The most a client may take within one quota window (Kafka's
    /// `getMaxValueInQuotaWindow`: the bound times the window less one sample), or `None`.
    pub fn max_in_window(
        table: &QuotaTable,
        kind: QuotaKind,
        user: &str,
        client_id: &str,
    ) -> Option<f64> {
        let q = resolve(table, kind.key(), user, client_id)?;
        Some(q.bound * (rate::WINDOW_SAMPLES as f64 - 1.0) * rate::WINDOW_MS as f64 / 1000.0)
    }
}

/// A connection's mute: the time before which its next request is not read (KIP-219: the
/// throttled response goes out at once, then the broker stops reading from the client).
#[derive(Debug, Default)]
pub struct Mute {
    until: Cell<Option<std::time::Instant>>,
}

impl Mute {
    /// Mutes for `ms` from now, unless already muted for longer.
    pub fn extend(&self, ms: u64) {
        if ms == 0 {
            return;
        }
        let until = std::time::Instant::now() + std::time::Duration::from_millis(ms);
        if self.until.get().is_none_or(|u| u < until) {
            self.until.set(Some(until));
        }
    }

    /// Waits out the mute, if any.
    pub async fn wait(&self) {
        while let Some(until) = self.until.get() {
            let left = until.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                self.until.set(None);
                break;
            }
            glommio::timer::sleep(left).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(entries: &[(QuotaEntity, f64)]) -> QuotaTable {
        let mut t = QuotaTable::new();
        for (e, v) in entries {
            t.entry(e.clone())
                .or_default()
                .insert("producer_byte_rate".into(), v.to_bits());
        }
        t
    }

    fn r(t: &QuotaTable, user: &str, client: &str) -> Option<(String, String, f64)> {
        resolve(t, "producer_byte_rate", user, client).map(|q| (q.user, q.client_id, q.bound))
    }

    #[test]
    fn precedence_is_kafkas() {
        let levels = [
            entity(Some(Some("alice")), Some(Some("app"))),
            entity(Some(Some("alice")), Some(None)),
            entity(Some(Some("alice")), None),
            entity(Some(None), Some(Some("app"))),
            entity(Some(None), Some(None)),
            entity(Some(None), None),
            entity(None, Some(Some("app"))),
            entity(None, Some(None)),
        ];
        let sensors = [
            ("alice", "app"),
            ("alice", "app"),
            ("alice", ""),
            ("alice", "app"),
            ("alice", "app"),
            ("alice", ""),
            ("", "app"),
            ("", "app"),
        ];
        // With levels i.. configured, level i wins.
        for (i, (u, c)) in sensors.iter().enumerate() {
            let t = table(
                &levels
                    .iter()
                    .enumerate()
                    .skip(i)
                    .map(|(j, e)| (e.clone(), (j + 1) as f64))
                    .collect::<Vec<_>>(),
            );
            assert_eq!(
                r(&t, "alice", "app"),
                Some((u.to_string(), c.to_string(), (i + 1) as f64)),
                "level {i}"
            );
        }
        assert_eq!(r(&QuotaTable::new(), "alice", "app"), None);
    }

    #[test]
    fn other_users_and_clients_do_not_match() {
        let t = table(&[
            (entity(Some(Some("bob")), None), 1.0),
            (entity(None, Some(Some("other"))), 2.0),
        ]);
        assert_eq!(r(&t, "alice", "app"), None);
        // A default user quota gives each user a sensor of their own.
        let t = table(&[(entity(Some(None), None), 5.0)]);
        assert_eq!(r(&t, "bob", "x"), Some(("bob".into(), "".into(), 5.0)));
    }

    #[test]
    fn sensors_are_per_resolved_entity() {
        let t = table(&[(entity(Some(None), None), 1000.0)]);
        let q = Quotas::default();
        // alice's burst throttles alice, not bob.
        assert!(q.record(&t, QuotaKind::Produce, "alice", "a", 50_000.0, 0) > 0);
        assert_eq!(q.record(&t, QuotaKind::Produce, "bob", "a", 500.0, 0), 0);
        // alice's other client ids share her user sensor.
        assert!(q.record(&t, QuotaKind::Produce, "alice", "b", 1.0, 1) > 0);
        // No quota, no throttle.
        assert_eq!(q.record(&t, QuotaKind::Fetch, "alice", "a", 1e9, 2), 0);
        q.unrecord(&t, QuotaKind::Produce, "alice", "a", 50_001.0, 3);
        assert_eq!(q.record(&t, QuotaKind::Produce, "alice", "a", 1.0, 4), 0);
    }

    #[test]
    fn users_come_from_principals() {
        assert_eq!(user_of("User:alice"), "alice");
        assert_eq!(user_of("User:ANONYMOUS"), "ANONYMOUS");
    }
}
