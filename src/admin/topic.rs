//! `myelin topic …` and `myelin config …`: topics and their configs over the Kafka protocol
//! (Metadata, CreateTopics, DeleteTopics, ListOffsets, DescribeConfigs,
//! IncrementalAlterConfigs), against any Kafka-compatible broker, with `--json` for scripts.

use super::{error_text, Client};
use anyhow::{bail, Context};
use clap::Subcommand;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

/// How long CreateTopics and DeleteTopics may take on the controller.
const ADMIN_TIMEOUT_MS: i32 = 30_000;

/// Kafka's config resource types.
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;

/// The `topic` subcommands.
#[derive(Debug, Subcommand)]
pub enum TopicCommand {
    /// Topics with their partition counts and replication factors.
    List {
        /// Include internal topics (`__consumer_offsets`, `__transaction_state`).
        #[arg(long)]
        internal: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// A topic's partitions (leader, replicas, ISR, earliest and latest offsets) and the
    /// configs set on it.
    Describe {
        /// The topic.
        topic: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Create a topic.
    Create {
        /// The topic.
        topic: String,
        /// Partitions [default: the broker's `num.partitions`].
        #[arg(long, short = 'p')]
        partitions: Option<i32>,
        /// Replicas per partition [default: the broker's `default.replication.factor`].
        #[arg(long, short = 'r')]
        replication_factor: Option<i16>,
        /// A topic config, `key=value`, repeatable.
        #[arg(long = "config", short = 'c')]
        configs: Vec<String>,
    },
    /// Delete a topic.
    Delete {
        /// The topic.
        topic: String,
    },
}

/// The `config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Every config of a topic or broker, with its source.
    Describe {
        /// A topic.
        #[arg(long, conflicts_with = "broker", required_unless_present = "broker")]
        topic: Option<String>,
        /// A broker id.
        #[arg(long)]
        broker: Option<i32>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Set (`key=value`) or delete (`--delete key`) configs of a topic
    /// (IncrementalAlterConfigs).
    Set {
        /// The topic.
        #[arg(long)]
        topic: String,
        /// Configs to set, `key=value`.
        pairs: Vec<String>,
        /// Configs to remove (back to the default), repeatable.
        #[arg(long)]
        delete: Vec<String>,
    },
}

fn name(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_owned()))
}

fn pair(s: &str) -> anyhow::Result<(String, String)> {
    let (k, v) = s
        .split_once('=')
        .with_context(|| format!("{s:?} is not key=value"))?;
    if k.is_empty() {
        bail!("{s:?} has an empty key");
    }
    Ok((k.to_owned(), v.to_owned()))
}

/// Fails with the error a response carries for `what`, if any.
fn check(what: &str, code: i16, message: Option<&StrBytes>) -> anyhow::Result<()> {
    if code != 0 {
        bail!("{what}: {}", error_text(code, message));
    }
    Ok(())
}

/// Runs a `topic` subcommand against `bootstrap`, printing to stdout.
pub fn run_topic(bootstrap: &str, command: TopicCommand) -> anyhow::Result<()> {
    let mut c = Client::connect(bootstrap)?;
    match command {
        TopicCommand::List { internal, json } => {
            let resp = c.metadata(None)?;
            let mut topics: Vec<_> = resp
                .topics
                .iter()
                .filter(|t| internal || !t.is_internal)
                .map(|t| {
                    let rf = t.partitions.first().map_or(0, |p| p.replica_nodes.len());
                    (
                        t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default(),
                        t.partitions.len(),
                        rf,
                        t.is_internal,
                    )
                })
                .collect();
            topics.sort();
            if json {
                let doc: Vec<_> = topics
                    .iter()
                    .map(|(n, p, rf, i)| {
                        serde_json::json!({"name": n, "partitions": p, "replication_factor": rf, "internal": i})
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                println!("NAME\tPARTITIONS\tREPLICAS");
                for (n, p, rf, _) in topics {
                    println!("{n}\t{p}\t{rf}");
                }
            }
        }
        TopicCommand::Describe { topic, json } => describe_topic(&mut c, &topic, json)?,
        TopicCommand::Create {
            topic,
            partitions,
            replication_factor,
            configs,
        } => {
            let configs = configs
                .iter()
                .map(|s| pair(s))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let req = CreateTopicsRequest::default()
                .with_timeout_ms(ADMIN_TIMEOUT_MS)
                .with_topics(vec![CreatableTopic::default()
                    .with_name(name(&topic))
                    .with_num_partitions(partitions.unwrap_or(-1))
                    .with_replication_factor(replication_factor.unwrap_or(-1))
                    .with_configs(
                        configs
                            .into_iter()
                            .map(|(k, v)| {
                                CreatableTopicConfig::default()
                                    .with_name(StrBytes::from_string(k))
                                    .with_value(Some(StrBytes::from_string(v)))
                            })
                            .collect(),
                    )]);
            let resp: CreateTopicsResponse = c.call(ApiKey::CreateTopics, 5, &req)?;
            for t in resp.topics {
                check(
                    &format!("topic {topic}"),
                    t.error_code,
                    t.error_message.as_ref(),
                )?;
                println!(
                    "created {topic} ({} partitions, {} replicas)",
                    t.num_partitions, t.replication_factor
                );
            }
        }
        TopicCommand::Delete { topic } => {
            let req = DeleteTopicsRequest::default()
                .with_timeout_ms(ADMIN_TIMEOUT_MS)
                .with_topic_names(vec![name(&topic)]);
            let resp: DeleteTopicsResponse = c.call(ApiKey::DeleteTopics, 5, &req)?;
            for r in resp.responses {
                check(
                    &format!("topic {topic}"),
                    r.error_code,
                    r.error_message.as_ref(),
                )?;
            }
            println!("deleted {topic}");
        }
    }
    Ok(())
}

fn describe_topic(c: &mut Client, topic: &str, json: bool) -> anyhow::Result<()> {
    let (t, _) = c.topic_metadata(topic)?;
    let mut parts: Vec<_> = t.partitions.iter().collect();
    parts.sort_by_key(|p| p.partition_index);
    let indexes: Vec<i32> = parts.iter().map(|p| p.partition_index).collect();
    let earliest = c.offsets_at(topic, &indexes, -2)?;
    let latest = c.offsets_at(topic, &indexes, -1)?;
    let at = |v: &[(i32, i64)], p: i32| v.iter().find(|(q, _)| *q == p).map_or(-1, |(_, o)| *o);
    let configs: Vec<_> = describe_configs(c, RESOURCE_TOPIC, topic)?
        .into_iter()
        .filter(|e| e.source == "DYNAMIC_TOPIC_CONFIG")
        .collect();
    let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
    if json {
        let doc = serde_json::json!({
            "name": topic,
            "partitions": parts.iter().map(|p| serde_json::json!({
                "partition": p.partition_index, "leader": p.leader_id.0,
                "leader_epoch": p.leader_epoch, "replicas": ids(&p.replica_nodes),
                "isr": ids(&p.isr_nodes), "offline": ids(&p.offline_replicas),
                "earliest_offset": at(&earliest, p.partition_index),
                "latest_offset": at(&latest, p.partition_index),
            })).collect::<Vec<_>>(),
            "configs": configs.iter().map(|e| (e.name.clone(), serde_json::Value::from(e.value.clone()))).collect::<serde_json::Map<_, _>>(),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!("topic {topic}, {} partitions", parts.len());
    println!("PARTITION\tLEADER\tEPOCH\tREPLICAS\tISR\tEARLIEST\tLATEST");
    let list = |v: &[BrokerId]| {
        v.iter()
            .map(|b| b.0.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    for p in parts {
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}\t{}",
            p.partition_index,
            p.leader_id.0,
            p.leader_epoch,
            list(&p.replica_nodes),
            list(&p.isr_nodes),
            at(&earliest, p.partition_index),
            at(&latest, p.partition_index)
        );
    }
    if !configs.is_empty() {
        println!("CONFIG\tVALUE");
        for e in configs {
            println!("{}\t{}", e.name, e.value.unwrap_or_default());
        }
    }
    Ok(())
}

/// One config as DescribeConfigs reports it.
struct ConfigEntry {
    name: String,
    value: Option<String>,
    source: &'static str,
    read_only: bool,
    sensitive: bool,
}

fn source_name(source: i8) -> &'static str {
    match source {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        7 => "CLIENT_METRICS_CONFIG",
        8 => "GROUP_CONFIG",
        _ => "UNKNOWN",
    }
}

fn describe_configs(
    c: &mut Client,
    resource_type: i8,
    resource: &str,
) -> anyhow::Result<Vec<ConfigEntry>> {
    let req =
        DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(StrBytes::from_string(resource.to_owned()))
            .with_configuration_keys(None)]);
    let resp: DescribeConfigsResponse = c.call(ApiKey::DescribeConfigs, 4, &req)?;
    let mut out = Vec::new();
    for r in resp.results {
        check(resource, r.error_code, r.error_message.as_ref())?;
        for e in r.configs {
            out.push(ConfigEntry {
                name: e.name.to_string(),
                value: e.value.map(|v| v.to_string()),
                source: source_name(e.config_source),
                read_only: e.read_only,
                sensitive: e.is_sensitive,
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Whether the broker's ApiVersions offers `key` at `version`.
fn supports(c: &mut Client, key: ApiKey, version: i16) -> anyhow::Result<bool> {
    let req = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("myelin-admin"))
        .with_client_software_version(StrBytes::from_static_str(env!("CARGO_PKG_VERSION")));
    let resp: ApiVersionsResponse = c.call(ApiKey::ApiVersions, 3, &req)?;
    Ok(resp
        .api_keys
        .iter()
        .any(|k| k.api_key == key as i16 && (k.min_version..=k.max_version).contains(&version)))
}

/// Runs a `config` subcommand against `bootstrap`, printing to stdout.
pub fn run_config(bootstrap: &str, command: ConfigCommand) -> anyhow::Result<()> {
    let mut c = Client::connect(bootstrap)?;
    match command {
        ConfigCommand::Describe {
            topic,
            broker,
            json,
        } => {
            let (kind, resource) = match (topic, broker) {
                (Some(t), _) => (RESOURCE_TOPIC, t),
                (None, Some(b)) => (RESOURCE_BROKER, b.to_string()),
                (None, None) => bail!("say which: --topic or --broker"),
            };
            let entries = describe_configs(&mut c, kind, &resource)?;
            if json {
                let doc: Vec<_> = entries
                    .iter()
                    .map(|e| {
                        serde_json::json!({
                            "name": e.name, "value": e.value, "source": e.source,
                            "read_only": e.read_only, "sensitive": e.sensitive,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&doc)?);
            } else {
                println!("NAME\tVALUE\tSOURCE");
                for e in entries {
                    let value = if e.sensitive {
                        "(sensitive)".to_owned()
                    } else {
                        e.value.unwrap_or_default()
                    };
                    println!("{}\t{value}\t{}", e.name, e.source);
                }
            }
        }
        ConfigCommand::Set {
            topic,
            pairs,
            delete,
        } => {
            if pairs.is_empty() && delete.is_empty() {
                bail!("nothing to change: give key=value pairs or --delete key");
            }
            // IncrementalAlterConfigs operations: 0 SET, 1 DELETE.
            let mut changes = Vec::new();
            for s in &pairs {
                let (k, v) = pair(s)?;
                changes.push(
                    AlterableConfig::default()
                        .with_name(StrBytes::from_string(k))
                        .with_config_operation(0)
                        .with_value(Some(StrBytes::from_string(v))),
                );
            }
            for k in &delete {
                changes.push(
                    AlterableConfig::default()
                        .with_name(StrBytes::from_string(k.clone()))
                        .with_config_operation(1),
                );
            }
            if !supports(&mut c, ApiKey::IncrementalAlterConfigs, 1)? {
                bail!("the broker does not offer IncrementalAlterConfigs (API 44) v1");
            }
            let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
                AlterConfigsResource::default()
                    .with_resource_type(RESOURCE_TOPIC)
                    .with_resource_name(StrBytes::from_string(topic.clone()))
                    .with_configs(changes),
            ]);
            let resp: IncrementalAlterConfigsResponse =
                c.call(ApiKey::IncrementalAlterConfigs, 1, &req)?;
            for r in resp.responses {
                check(
                    &format!("topic {topic}"),
                    r.error_code,
                    r.error_message.as_ref(),
                )?;
            }
            println!("altered {topic}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_parse() {
        assert_eq!(
            pair("retention.ms=1000").unwrap(),
            ("retention.ms".into(), "1000".into())
        );
        assert_eq!(pair("a=b=c").unwrap(), ("a".into(), "b=c".into()));
        assert!(pair("novalue").is_err());
        assert!(pair("=x").is_err());
    }
}
