//! Query parameters of the admin JSON API, parsed into typed requests. Parsing never panics
//! and never trusts the browser: every refusal is a [`ParamError`] the listener answers with
//! 400 and a JSON reason.

use crate::limits;

/// Why a query was refused (answered 400 with this text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamError(pub String);

fn refuse(why: impl Into<String>) -> ParamError {
    ParamError(why.into())
}

/// A query's `name=value` pairs, percent-decoded, in order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Parses `a=1&b=x%20y`; `+` is a space, as HTML forms send it. A name given twice, a
    /// bad escape, text that is not UTF-8 or more than [`limits::ADMIN_QUERY_PARAMS_MAX`]
    /// pairs are refused.
    pub fn parse(query: &str) -> Result<Params, ParamError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for part in query.split('&').filter(|p| !p.is_empty()) {
            if pairs.len() == limits::ADMIN_QUERY_PARAMS_MAX {
                return Err(refuse("too many query parameters"));
            }
            let (name, value) = part.split_once('=').unwrap_or((part, ""));
            let name = decode(name)?;
            if pairs.iter().any(|(n, _)| *n == name) {
                return Err(refuse(format!("parameter {name} given twice")));
            }
            pairs.push((name, decode(value)?));
        }
        Ok(Params(pairs))
    }

    /// The value of `name`, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Refuses any parameter not in `known`, so a misspelt one is not silently ignored.
    pub fn only(&self, known: &[&str]) -> Result<(), ParamError> {
        match self.0.iter().find(|(n, _)| !known.contains(&n.as_str())) {
            Some((n, _)) => Err(refuse(format!(
                "unknown parameter {n} (known: {})",
                known.join(", ")
            ))),
            None => Ok(()),
        }
    }

    /// An integer parameter in `min..=max`, or `None` when absent.
    pub fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ParamError> {
        let Some(text) = self.get(name) else {
            return Ok(None);
        };
        let v: i64 = text
            .parse()
            .map_err(|_| refuse(format!("{name} must be an integer, not {text:?}")))?;
        if !(min..=max).contains(&v) {
            return Err(refuse(format!("{name} must be in [{min}, {max}], not {v}")));
        }
        Ok(Some(v))
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes one name or value.
fn decode(text: &str) -> Result<String, ParamError> {
    let mut out = Vec::with_capacity(text.len());
    let mut bytes = text.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.next().and_then(hex_digit);
                let lo = bytes.next().and_then(hex_digit);
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push((hi << 4) | lo),
                    _ => return Err(refuse("bad percent escape in the query")),
                }
            }
            b => out.push(b),
        }
    }
    String::from_utf8(out).map_err(|_| refuse("the query is not UTF-8"))
}

/// Where a message-browser read starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At this offset (the batch holding it is read whole; earlier records are skipped).
    Offset(i64),
    /// At the first record whose timestamp is at or after this one (ms since the epoch),
    /// as ListOffsets finds it.
    Timestamp(i64),
    /// The newest records: `limit` records before the high watermark.
    Newest,
}

/// `/v1/messages?topic=T&partition=P&offset=O|timestamp=MS&limit=N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessagesQuery {
    pub topic: String,
    pub partition: i32,
    pub start: Start,
    /// At most [`limits::CONSOLE_MESSAGES_MAX`]: a larger ask is cut to it.
    pub limit: usize,
}

/// Longest topic name Kafka allows.
const TOPIC_NAME_BYTES_MAX: usize = 249;

/// Parses a message-browser query.
pub fn messages_query(query: &str) -> Result<MessagesQuery, ParamError> {
    let p = Params::parse(query)?;
    p.only(&["topic", "partition", "offset", "timestamp", "limit"])?;
    let topic = p.get("topic").unwrap_or_default();
    if topic.is_empty() {
        return Err(refuse("topic is required"));
    }
    if topic.len() > TOPIC_NAME_BYTES_MAX {
        return Err(refuse("topic name too long"));
    }
    let partition = p.int("partition", 0, i64::from(i32::MAX))?.unwrap_or(0);
    let offset = p.int("offset", 0, i64::MAX)?;
    let timestamp = p.int("timestamp", 0, i64::MAX)?;
    let start = match (offset, timestamp) {
        (Some(_), Some(_)) => return Err(refuse("give offset or timestamp, not both")),
        (Some(o), None) => Start::Offset(o),
        (None, Some(t)) => Start::Timestamp(t),
        (None, None) => Start::Newest,
    };
    let limit = p
        .int("limit", 1, i64::MAX)?
        .map_or(limits::CONSOLE_MESSAGES_DEFAULT, |n| {
            usize::try_from(n).map_or(limits::CONSOLE_MESSAGES_MAX, |n| {
                n.min(limits::CONSOLE_MESSAGES_MAX)
            })
        });
    Ok(MessagesQuery {
        topic: topic.to_owned(),
        partition: i32::try_from(partition).map_err(|_| refuse("partition out of range"))?,
        start,
        limit,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(q: &str) -> MessagesQuery {
        messages_query(q).unwrap_or_else(|e| panic!("{q}: {e:?}"))
    }

    fn refused(q: &str) -> String {
        match messages_query(q) {
            Ok(m) => panic!("{q} was accepted as {m:?}"),
            Err(ParamError(why)) => why,
        }
    }

    #[test]
    fn messages_queries_parse() {
        assert_eq!(
            ok("topic=orders&partition=3&offset=17&limit=5"),
            MessagesQuery {
                topic: "orders".into(),
                partition: 3,
                start: Start::Offset(17),
                limit: 5,
            }
        );
        let by_time = ok("topic=a.b-c_d&timestamp=1700000000000");
        assert_eq!(by_time.start, Start::Timestamp(1_700_000_000_000));
        assert_eq!(by_time.partition, 0);
        assert_eq!(by_time.limit, limits::CONSOLE_MESSAGES_DEFAULT);
        assert_eq!(ok("topic=t").start, Start::Newest);
        assert_eq!(ok("topic=my%20t+x&").topic, "my t x");
        assert_eq!(ok("limit=7&topic=%C3%A9").topic, "é");
    }

    #[test]
    fn huge_limits_are_capped() {
        assert_eq!(
            ok("topic=t&limit=1000000").limit,
            limits::CONSOLE_MESSAGES_MAX
        );
        assert_eq!(
            ok("topic=t&limit=9223372036854775807").limit,
            limits::CONSOLE_MESSAGES_MAX
        );
        assert_eq!(ok("topic=t&limit=100").limit, 100);
    }

    #[test]
    fn bad_queries_are_refused() {
        assert!(refused("").contains("topic is required"));
        assert!(refused("topic=").contains("topic is required"));
        assert!(refused("topic=t&offset=abc").contains("offset must be an integer"));
        assert!(refused("topic=t&offset=-1").contains("offset must be in"));
        assert!(refused("topic=t&offset=1.5").contains("integer"));
        assert!(refused("topic=t&offset=99999999999999999999").contains("integer"));
        assert!(refused("topic=t&partition=x").contains("partition must be an integer"));
        assert!(refused("topic=t&partition=-1").contains("partition must be in"));
        assert!(refused("topic=t&partition=2147483648").contains("partition must be in"));
        assert!(refused("topic=t&timestamp=yesterday").contains("timestamp must be"));
        assert!(refused("topic=t&limit=0").contains("limit must be in"));
        assert!(refused("topic=t&limit=-5").contains("limit must be in"));
        assert!(refused("topic=t&offset=1&timestamp=2").contains("not both"));
        assert!(refused("topic=t&ofset=1").contains("unknown parameter ofset"));
        assert!(refused("topic=t&topic=u").contains("given twice"));
        assert!(refused("topic=%zz").contains("percent"));
        assert!(refused("topic=%4").contains("percent"));
        assert!(refused("topic=%ff").contains("UTF-8"));
        assert!(refused(&format!("topic={}", "x".repeat(250))).contains("too long"));
        let many: Vec<String> = (0..20).map(|i| format!("p{i}=1")).collect();
        assert!(refused(&many.join("&")).contains("too many"));
    }

    /// Arbitrary text never panics the parser.
    #[test]
    fn arbitrary_queries_do_not_panic() {
        let alphabet = [
            "%", "&", "=", "+", "topic", "offset", "limit", "9", "-", "%e9", "é",
        ];
        let mut seed: u64 = 0x5eed;
        for _ in 0..5_000 {
            let mut q = String::new();
            for _ in 0..(seed % 12) {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                q.push_str(alphabet[(seed >> 33) as usize % alphabet.len()]);
            }
            let _ = messages_query(&q);
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        }
    }
}
