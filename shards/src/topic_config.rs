//! Topic configs Myelin supports: their names, broker defaults, validation, and the
//! [`LogConfig`] they produce. DescribeConfigs lists exactly these.

use myelin_replication::MetadataError;
use myelin_storage::{limits, LogConfig};
use std::collections::BTreeMap;

/// One supported topic config.
pub struct ConfigDef {
    /// Kafka's name for it.
    pub name: &'static str,
    /// What it means, for documentation and DescribeConfigs v3+.
    pub doc: &'static str,
    /// Kafka's config type code in DescribeConfigs v3+ (1 = BOOLEAN, 2 = STRING, 3 = INT,
    /// 5 = LONG, 6 = DOUBLE, 7 = LIST).
    pub kind: i8,
}

/// The topic configs, in the order DescribeConfigs lists them.
pub const TOPIC_CONFIGS: &[ConfigDef] = &[
    ConfigDef {
        name: "cleanup.policy",
        doc: "delete, compact, or both (compact,delete)",
        kind: 7,
    },
    ConfigDef {
        name: "delete.retention.ms",
        doc: "how long compaction keeps a tombstone",
        kind: 5,
    },
    ConfigDef {
        name: "min.cleanable.dirty.ratio",
        doc: "compact once this share of the sealed log is uncleaned",
        kind: 6,
    },
    ConfigDef {
        name: "min.compaction.lag.ms",
        doc: "never compact records younger than this",
        kind: 5,
    },
    ConfigDef {
        name: "retention.ms",
        doc: "delete segments older than this; -1 keeps forever",
        kind: 5,
    },
    ConfigDef {
        name: "retention.bytes",
        doc: "delete oldest segments above this size; -1 keeps all",
        kind: 5,
    },
    ConfigDef {
        name: "segment.bytes",
        doc: "roll the active segment at this size",
        kind: 3,
    },
    ConfigDef {
        name: "segment.ms",
        doc: "roll the active segment at this age",
        kind: 5,
    },
    ConfigDef {
        name: "min.insync.replicas",
        doc: "in-sync replicas an acks=all produce needs",
        kind: 3,
    },
    ConfigDef {
        name: "unclean.leader.election.enable",
        doc: "let a replica outside the ISR lead when none in it can, losing records",
        kind: 1,
    },
    ConfigDef {
        name: "max.message.bytes",
        doc: "largest record batch accepted",
        kind: 3,
    },
    ConfigDef {
        name: "message.timestamp.type",
        doc: "CreateTime or LogAppendTime",
        kind: 2,
    },
    ConfigDef {
        name: "flush.messages",
        doc: "fdatasync after this many messages; 1 = before every ack",
        kind: 5,
    },
    ConfigDef {
        name: "flush.ms",
        doc: "fdatasync unsynced data at least this often",
        kind: 5,
    },
    ConfigDef {
        name: "myelin.flush.bytes",
        doc: "fdatasync once this many bytes are unsynced; -1 never by size",
        kind: 5,
    },
];

/// Kafka's message for a value its config definition refuses.
fn invalid(name: &str, value: &str, why: &str) -> MetadataError {
    MetadataError::InvalidConfig(format!(
        "Invalid value {value} for configuration {name}: {why}"
    ))
}

/// Kafka's 4.4 topic configs that Myelin does not take: refused as unsupported rather than
/// as unknown, so the message does not say Kafka lacks them.
const KAFKA_ONLY_TOPIC_CONFIGS: &[&str] = &[
    "compression.type",
    "compression.gzip.level",
    "compression.lz4.level",
    "compression.zstd.level",
    "file.delete.delay.ms",
    "follower.replication.throttled.replicas",
    "index.interval.bytes",
    "leader.replication.throttled.replicas",
    "local.retention.bytes",
    "local.retention.ms",
    "max.compaction.lag.ms",
    "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms",
    "preallocate",
    "remote.log.copy.disable",
    "remote.log.delete.on.disable",
    "remote.storage.enable",
    "segment.index.bytes",
    "segment.jitter.ms",
];

/// A LONG (or INT, when `int`) at least `min`, as Kafka parses it (surrounding blanks
/// ignored).
fn parse_number(name: &str, value: &str, min: i64, int: bool) -> Result<i64, MetadataError> {
    let kind = if int { "INT" } else { "LONG" };
    let parsed = value
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|v| !int || i32::try_from(*v).is_ok());
    match parsed {
        Some(v) if v >= min => Ok(v),
        Some(_) => Err(invalid(
            name,
            value,
            &format!("Value must be at least {min}"),
        )),
        None => Err(invalid(
            name,
            value,
            &format!("Not a number of type {kind}"),
        )),
    }
}

fn parse_i64(name: &str, value: &str, min: i64) -> Result<i64, MetadataError> {
    parse_number(name, value, min, false)
}

fn parse_i32(name: &str, value: &str, min: i64) -> Result<i64, MetadataError> {
    parse_number(name, value, min, true)
}

/// The policies of a `cleanup.policy` value: (compact, delete).
fn cleanup_policy(name: &str, value: &str) -> Result<(bool, bool), MetadataError> {
    let mut policies: Vec<&str> = value.split(',').map(str::trim).collect();
    if let Some(bad) = policies
        .iter()
        .find(|p| !matches!(**p, "compact" | "delete"))
    {
        return Err(invalid(name, bad, "String must be one of: compact, delete"));
    }
    policies.sort_unstable();
    policies.dedup();
    Ok(match policies.as_slice() {
        ["delete"] => (false, true),
        ["compact"] => (true, false),
        _ => (true, true),
    })
}

/// Applies one config to a log config, or says why it cannot, in Kafka's words.
fn apply(config: &mut LogConfig, name: &str, value: &str) -> Result<(), MetadataError> {
    match name {
        "cleanup.policy" => {
            (config.cleanup_compact, config.cleanup_delete) = cleanup_policy(name, value)?;
        }
        "delete.retention.ms" => config.delete_retention_ms = parse_i64(name, value, 0)?,
        "min.cleanable.dirty.ratio" => {
            config.min_cleanable_dirty_ratio = match value.trim().parse::<f64>() {
                Ok(v) if v < 0.0 => return Err(invalid(name, value, "Value must be at least 0")),
                Ok(v) if v > 1.0 => {
                    return Err(invalid(name, value, "Value must be no more than 1"))
                }
                Ok(v) if v.is_finite() => v,
                _ => return Err(invalid(name, value, "Not a number of type DOUBLE")),
            }
        }
        "min.compaction.lag.ms" => config.min_compaction_lag_ms = parse_i64(name, value, 0)?,
        "flush.ms" => config.flush_ms = parse_i64(name, value, 0)?,
        "myelin.flush.bytes" => config.flush_bytes = parse_i64(name, value, -1)?,
        "retention.ms" => config.retention_ms = parse_i64(name, value, -1)?,
        // Any negative size keeps everything, as Kafka takes it.
        "retention.bytes" => config.retention_bytes = parse_i64(name, value, i64::MIN)?,
        "segment.bytes" => {
            let v = parse_i32(name, value, limits::SEGMENT_BYTES_MIN as i64)?;
            config.segment_bytes = v as u64;
        }
        "segment.ms" => config.segment_ms = parse_i64(name, value, 1)?,
        "max.message.bytes" => {
            let v = parse_i32(name, value, 0)?;
            if v > limits::BATCH_BYTES_MAX as i64 {
                let why = format!("Value must be no more than {}", limits::BATCH_BYTES_MAX);
                return Err(invalid(name, value, &why));
            }
            config.max_message_bytes = v as u32;
        }
        "message.timestamp.type" => {
            config.log_append_time = match value.trim() {
                "CreateTime" => false,
                "LogAppendTime" => true,
                _ => {
                    let why = "String must be one of: CreateTime, LogAppendTime";
                    return Err(invalid(name, value, why));
                }
            }
        }
        "flush.messages" => config.flush_messages = parse_i64(name, value, 1)? as u64,
        "min.insync.replicas" => {
            config.min_insync_replicas = parse_i32(name, value, 1)? as i32;
        }
        "unclean.leader.election.enable" => {
            config.unclean_leader_election = match value.trim() {
                v if v.eq_ignore_ascii_case("true") => true,
                v if v.eq_ignore_ascii_case("false") => false,
                _ => {
                    let why = "Expected value to be either true or false";
                    return Err(invalid(name, value, why));
                }
            }
        }
        _ if KAFKA_ONLY_TOPIC_CONFIGS.contains(&name) => {
            return Err(MetadataError::InvalidConfig(format!(
                "Topic config {name} is not supported by Myelin"
            )))
        }
        _ => {
            return Err(MetadataError::InvalidConfig(format!(
                "Unknown topic config name: {name}"
            )))
        }
    }
    Ok(())
}

/// Whether `name` is a list config (Kafka's LIST type), which IncrementalAlterConfigs may
/// APPEND to and SUBTRACT from.
pub fn is_list(name: &str) -> bool {
    TOPIC_CONFIGS.iter().any(|d| d.name == name && d.kind == 7)
}

/// The log config for a topic: broker defaults with the topic's overrides applied.
pub fn log_config(
    defaults: &LogConfig,
    overrides: &BTreeMap<String, String>,
) -> Result<LogConfig, MetadataError> {
    let mut config = defaults.clone();
    for (name, value) in overrides {
        apply(&mut config, name, value)?;
    }
    Ok(config)
}

/// The value a config has for `config`, as DescribeConfigs reports it.
pub fn value_of(config: &LogConfig, name: &str) -> Option<String> {
    Some(match name {
        "cleanup.policy" => match (config.cleanup_compact, config.cleanup_delete) {
            (true, true) => "compact,delete",
            (true, false) => "compact",
            _ => "delete",
        }
        .to_string(),
        "delete.retention.ms" => config.delete_retention_ms.to_string(),
        "min.cleanable.dirty.ratio" => config.min_cleanable_dirty_ratio.to_string(),
        "min.compaction.lag.ms" => config.min_compaction_lag_ms.to_string(),
        "flush.ms" => if config.flush_ms < 0 {
            i64::MAX
        } else {
            config.flush_ms
        }
        .to_string(),
        "myelin.flush.bytes" => config.flush_bytes.to_string(),
        "retention.ms" => config.retention_ms.to_string(),
        "retention.bytes" => config.retention_bytes.to_string(),
        "segment.bytes" => config.segment_bytes.to_string(),
        "segment.ms" => config.segment_ms.to_string(),
        "max.message.bytes" => config.max_message_bytes.to_string(),
        "message.timestamp.type" => if config.log_append_time {
            "LogAppendTime"
        } else {
            "CreateTime"
        }
        .to_string(),
        "flush.messages" => config.flush_messages.to_string(),
        "min.insync.replicas" => config.min_insync_replicas.to_string(),
        "unclean.leader.election.enable" => config.unclean_leader_election.to_string(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_apply_and_bad_values_are_refused() {
        let mut o = BTreeMap::new();
        o.insert("retention.ms".to_string(), "1000".to_string());
        o.insert(
            "message.timestamp.type".to_string(),
            "LogAppendTime".to_string(),
        );
        let c = log_config(&LogConfig::default(), &o).unwrap();
        assert_eq!(c.retention_ms, 1000);
        assert!(c.log_append_time);
        assert_eq!(value_of(&c, "retention.ms").as_deref(), Some("1000"));
        let mut o = BTreeMap::new();
        o.insert("cleanup.policy".to_string(), "delete, compact".to_string());
        let c = log_config(&LogConfig::default(), &o).unwrap();
        assert!(c.cleanup_compact && c.cleanup_delete);
        assert_eq!(
            value_of(&c, "cleanup.policy").as_deref(),
            Some("compact,delete")
        );
        for (k, v) in [
            ("min.cleanable.dirty.ratio", "1.5"),
            ("retention.ms", "x"),
            ("segment.bytes", "10"),
            ("nope", "1"),
            ("cleanup.policy", "compact,archive"),
            ("segment.bytes", "4294967296"),
            ("compression.type", "lz4"),
        ] {
            let mut o = BTreeMap::new();
            o.insert(k.to_string(), v.to_string());
            assert!(log_config(&LogConfig::default(), &o).is_err(), "{k}={v}");
        }
        let mut o = BTreeMap::new();
        o.insert("retention.ms".to_string(), "abc".to_string());
        let e = log_config(&LogConfig::default(), &o).unwrap_err();
        assert_eq!(
            e,
            MetadataError::InvalidConfig(
                "Invalid value abc for configuration retention.ms: Not a number of type LONG"
                    .into()
            )
        );
        assert!(is_list("cleanup.policy") && !is_list("retention.ms"));
    }
}
