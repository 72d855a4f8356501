//! Connection limits as Kafka names them: `max.connections.per.ip` with
//! `max.connections.per.ip.overrides`, the broker-wide `max.connection.creation.rate`, and
//! the `connection_creation_rate` quota of an `ip` entity (KIP-612).
//!
//! Counts and rates are per shard (see the module above): a per-IP limit of N lets one
//! address hold up to N connections on each shard, since the kernel spreads one address's
//! connections over the shards' SO_REUSEPORT sockets.

use super::rate::Rate;
use super::QuotaTable;
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::IpAddr;

/// The broker's connection limits.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConnectionLimits {
    /// `max.connections.per.ip` (`None`: unlimited, Kafka's `Int.MaxValue`).
    pub per_ip_max: Option<u32>,
    /// `max.connections.per.ip.overrides`: per address.
    pub per_ip_overrides: Vec<(IpAddr, u32)>,
    /// `max.connection.creation.rate`: new connections per second the listener accepts
    /// (`None`: unlimited).
    pub creation_rate_max: Option<f64>,
}

impl ConnectionLimits {
    /// Parses `max.connections.per.ip.overrides` (`host:count,host:count`).
    pub fn parse_overrides(text: &str) -> Result<Vec<(IpAddr, u32)>, String> {
        let mut out = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (host, n) = item
                .rsplit_once(':')
                .ok_or_else(|| format!("{item:?} is not host:count"))?;
            let ip: IpAddr = host
                .trim_matches(|c| c == '[' || c == ']')
                .parse()
                .map_err(|_| format!("{host:?} is not an IP address"))?;
            let n: u32 = n.parse().map_err(|_| format!("{n:?} is not a count"))?;
            out.push((ip, n));
        }
        Ok(out)
    }

    fn max_for(&self, ip: IpAddr) -> Option<u32> {
        self.per_ip_overrides
            .iter()
            .find(|(a, _)| *a == ip)
            .map(|(_, n)| *n)
            .or(self.per_ip_max)
    }
}

/// What to do with a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admit {
    /// Serve it.
    Yes,
    /// Close it now: the address has its most connections.
    TooMany,
    /// The address is over its `connection_creation_rate`: hold it this long, then close
    /// (Kafka delays the close so the client does not reconnect at once).
    Throttled(u64),
}

/// Most addresses tracked per shard; bounds memory against many sources.
pub const ADDRESSES_MAX: usize = 100_000;

/// One shard's open connections and creation rates.
#[derive(Default)]
pub struct Connections {
    open: RefCell<HashMap<IpAddr, u32>>,
    rates: RefCell<HashMap<IpAddr, Rate>>,
    listener_rate: RefCell<Option<Rate>>,
}

impl Connections {
    /// The wait before the listener accepts its next connection under
    /// `max.connection.creation.rate`, recording this one.
    pub fn listener_throttle_ms(&self, limits: &ConnectionLimits, now_ms: u64) -> u64 {
        let Some(bound) = limits.creation_rate_max else {
            return 0;
        };
        let mut r = self.listener_rate.borrow_mut();
        r.get_or_insert_with(|| Rate::new(now_ms))
            .record_and_throttle_ms(1.0, bound, now_ms)
    }

    /// Decides on a new connection from `ip` and, when admitted, counts it open.
    pub fn admit(
        &self,
        limits: &ConnectionLimits,
        quotas: &QuotaTable,
        ip: IpAddr,
        now_ms: u64,
    ) -> Admit {
        let mut open = self.open.borrow_mut();
        let n = open.get(&ip).copied().unwrap_or(0);
        if limits.max_for(ip).is_some_and(|max| n >= max) {
            return Admit::TooMany;
        }
        if let Some(bound) = ip_rate(quotas, ip) {
            let mut rates = self.rates.borrow_mut();
            if rates.len() >= ADDRESSES_MAX && !rates.contains_key(&ip) {
                rates.retain(|a, _| open.contains_key(a));
            }
            let t = rates
                .entry(ip)
                .or_insert_with(|| Rate::new(now_ms))
                .record_and_throttle_ms(1.0, bound, now_ms);
            if t > 0 {
                return Admit::Throttled(t);
            }
        }
        open.insert(ip, n + 1);
        Admit::Yes
    }

    /// Counts a connection from `ip` closed.
    pub fn closed(&self, ip: IpAddr) {
        let mut open = self.open.borrow_mut();
        if let Some(n) = open.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&ip);
            }
        }
    }
}

/// The `connection_creation_rate` of `/ips/<ip>`, else of `/ips/<default>`.
fn ip_rate(quotas: &QuotaTable, ip: IpAddr) -> Option<f64> {
    let key = "connection_creation_rate";
    let exact = vec![("ip".to_string(), Some(ip.to_string()))];
    let default = vec![("ip".to_string(), None)];
    quotas
        .get(&exact)
        .and_then(|m| m.get(key))
        .or_else(|| quotas.get(&default).and_then(|m| m.get(key)))
        .map(|b| f64::from_bits(*b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn per_ip_counts_and_overrides() {
        let limits = ConnectionLimits {
            per_ip_max: Some(2),
            per_ip_overrides: ConnectionLimits::parse_overrides("10.0.0.1:0, 127.0.0.2:3").unwrap(),
            creation_rate_max: None,
        };
        let c = Connections::default();
        let q = QuotaTable::new();
        let a = ip("127.0.0.1");
        assert_eq!(c.admit(&limits, &q, a, 0), Admit::Yes);
        assert_eq!(c.admit(&limits, &q, a, 0), Admit::Yes);
        assert_eq!(c.admit(&limits, &q, a, 0), Admit::TooMany);
        c.closed(a);
        assert_eq!(c.admit(&limits, &q, a, 0), Admit::Yes);
        assert_eq!(c.admit(&limits, &q, ip("10.0.0.1"), 0), Admit::TooMany);
        for _ in 0..3 {
            assert_eq!(c.admit(&limits, &q, ip("127.0.0.2"), 0), Admit::Yes);
        }
        assert_eq!(c.admit(&limits, &q, ip("127.0.0.2"), 0), Admit::TooMany);
        assert!(ConnectionLimits::parse_overrides("nohost").is_err());
    }

    #[test]
    fn ip_creation_rate_throttles() {
        let mut q = QuotaTable::new();
        q.entry(vec![("ip".to_string(), None)])
            .or_default()
            .insert("connection_creation_rate".into(), 1.0f64.to_bits());
        let c = Connections::default();
        let limits = ConnectionLimits::default();
        // One per second over ten seconds' window: ten at once are fine, the eleventh not.
        for _ in 0..10 {
            assert_eq!(c.admit(&limits, &q, ip("127.0.0.1"), 0), Admit::Yes);
        }
        assert!(matches!(
            c.admit(&limits, &q, ip("127.0.0.1"), 0),
            Admit::Throttled(_)
        ));
        let limits = ConnectionLimits {
            creation_rate_max: Some(1.0),
            ..Default::default()
        };
        assert_eq!(c.listener_throttle_ms(&limits, 0), 0);
        let waits: Vec<_> = (0..11)
            .map(|_| c.listener_throttle_ms(&limits, 0))
            .collect();
        assert!(waits.last().is_some_and(|w| *w > 0));
    }
}
