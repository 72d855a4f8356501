//! Kafka's broker settings, as operators write them in `server.properties`, mapped onto
//! Myelin's. The result is the file layer of [`super::Settings::resolve`]: flags and the
//! environment still win over it.
//!
//! Every key read is exactly one of: mapped onto a setting (the `take` calls below); known
//! but without effect here ([`NO_EFFECT`], each with why, reported as one info line each);
//! accepted only at the value Myelin always behaves as ([`ONLY_VALUE`]); refused
//! ([`REFUSED`]); or unknown, reported in one warning line. A value Myelin cannot parse or
//! cannot honour is an error naming the file, line and key. Values are trimmed, as Kafka
//! trims them.

use super::properties::{self, Property};
use super::{
    bind_address, split_host_port, ExtraListener, FileConfig, Notice, ProcessRoles, VoterList,
};
use anyhow::anyhow;
use myelin_net::security::{SaslConfig, SecurityProtocol};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::str::FromStr;

/// Kafka settings Myelin knows and accepts, with no effect here, and why.
const NO_EFFECT: &[(&str, &str)] = &[
    (
        "num.network.threads",
        "each shard accepts and serves its own connections; --shards sizes them",
    ),
    (
        "num.io.threads",
        "requests are handled on the shard that read them; --shards sizes them",
    ),
    (
        "socket.send.buffer.bytes",
        "the kernel sizes socket buffers itself",
    ),
    (
        "socket.receive.buffer.bytes",
        "the kernel sizes socket buffers itself",
    ),
    (
        "socket.request.max.bytes",
        "requests are bounded by Myelin's own limit, Kafka's default of 100 MiB",
    ),
    (
        "num.recovery.threads.per.data.dir",
        "each shard recovers its own partitions at start-up",
    ),
    (
        "share.coordinator.state.topic.replication.factor",
        "share groups are not implemented",
    ),
    (
        "share.coordinator.state.topic.min.isr",
        "share groups are not implemented",
    ),
    (
        "group.coordinator.rebalance.protocols",
        "only the classic group protocol is served",
    ),
    (
        "metadata.log.dir",
        "the metadata log lives in the data directory",
    ),
];

/// Kafka settings Myelin accepts only at the one value it always behaves as.
const ONLY_VALUE: &[(&str, &str, &str)] = &[
    (
        "delete.topic.enable",
        "true",
        "topics can always be deleted",
    ),
    (
        "log.cleaner.enable",
        "true",
        "compacted topics are always compacted",
    ),
    (
        "security.inter.broker.protocol",
        "PLAINTEXT",
        "brokers talk among themselves over PLAINTEXT",
    ),
];

/// Kafka settings whose presence means a setup Myelin cannot run.
const REFUSED: &[(&str, &str)] = &[
    (
        "zookeeper.connect",
        "ZooKeeper mode is not supported (nor is it by Kafka 4); \
         use process.roles and controller.quorum.voters",
    ),
    (
        "config.providers",
        "config providers are not supported; write the values into the file",
    ),
];

/// The security protocols Kafka knows, all served.
const SECURITY_PROTOCOLS: &[&str] = &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];

/// Maps a properties file onto the file layer; `origin` names the file in messages.
pub(super) fn read(
    origin: &str,
    text: &str,
    notices: &mut Vec<Notice>,
) -> anyhow::Result<FileConfig> {
    let parsed = properties::parse(text).map_err(|e| anyhow!("{origin}: {e}"))?;
    let mut entries = Entries::new(origin, parsed, notices)?;
    let mut file = FileConfig::default();
    identity(&mut entries, &mut file)?;
    let controller = listeners(&mut entries, &mut file)?;
    sasl(&mut entries, &mut file)?;
    tls(&mut entries, &mut file)?;
    bootstrap_servers(&mut entries, &file, controller.as_ref(), notices)?;
    storage(&mut entries, &mut file)?;
    topics_and_groups(&mut entries, &mut file)?;
    replication(&mut entries, &mut file)?;
    connection_limits(&mut entries, &mut file)?;
    authorization(&mut entries, &mut file)?;
    entries.finish(notices)?;
    Ok(file)
}

/// The pairs of one file by key, the last of a repeated key winning as in Java. Mapping
/// takes keys out; whatever is left at the end is checked against the lists above.
struct Entries<'a> {
    origin: &'a str,
    by_key: BTreeMap<String, Property>,
}

impl<'a> Entries<'a> {
    fn new(
        origin: &'a str,
        parsed: Vec<Property>,
        notices: &mut Vec<Notice>,
    ) -> anyhow::Result<Self> {
        let mut entries = Entries {
            origin,
            by_key: BTreeMap::new(),
        };
        for mut property in parsed {
            property.value = property.value.trim().to_string();
            // A `${provider:path:key}` reference would reach the broker as literal text.
            if property.value.contains("${") {
                return Err(entries.error(
                    &property,
                    "config provider references (${...}) are not supported; \
                     write the value into the file",
                ));
            }
            if let Some((_, why)) = REFUSED.iter().find(|(key, _)| *key == property.key) {
                return Err(entries.error(&property, why));
            }
            if let Some(earlier) = entries.by_key.get(&property.key) {
                notices.push(Notice::Warn(format!(
                    "{origin}:{}: {} is also set on line {}; the later value wins, as in Kafka",
                    property.line, property.key, earlier.line
                )));
            }
            entries.by_key.insert(property.key.clone(), property);
        }
        Ok(entries)
    }

    fn error(&self, property: &Property, message: impl Display) -> anyhow::Error {
        anyhow!(
            "{}:{}: {}: {message}",
            self.origin,
            property.line,
            property.key
        )
    }

    fn take(&mut self, key: &str) -> Option<Property> {
        self.by_key.remove(key)
    }

    /// A value parsed as `T`, with the pair it came from.
    fn parse_at<T: FromStr>(&mut self, key: &str) -> anyhow::Result<Option<(T, Property)>>
    where
        T::Err: Display,
    {
        let Some(property) = self.take(key) else {
            return Ok(None);
        };
        match property.value.parse() {
            Ok(value) => Ok(Some((value, property))),
            Err(e) => Err(self.error(&property, format!("{:?}: {e}", property.value))),
        }
    }

    /// A number of at least `min`.
    fn at_least<T>(&mut self, key: &str, min: T) -> anyhow::Result<Option<T>>
    where
        T: FromStr + PartialOrd + Display,
        T::Err: Display,
    {
        match self.parse_at::<T>(key)? {
            Some((value, property)) if value < min => {
                Err(self.error(&property, format!("must be at least {min}, not {value}")))
            }
            found => Ok(found.map(|(value, _)| value)),
        }
    }

    /// `true` or `false` in any case, as Kafka reads booleans.
    fn boolean(&mut self, key: &str) -> anyhow::Result<Option<bool>> {
        let Some(property) = self.take(key) else {
            return Ok(None);
        };
        match property.value.to_ascii_lowercase().as_str() {
            "true" => Ok(Some(true)),
            "false" => Ok(Some(false)),
            _ => Err(self.error(
                &property,
                format!("{:?}: expected true or false", property.value),
            )),
        }
    }

    /// A comma-separated list, entries trimmed, empty entries dropped as Kafka drops them.
    fn list(&mut self, key: &str) -> Option<(Vec<String>, Property)> {
        let property = self.take(key)?;
        let items = property
            .value
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_string)
            .collect();
        Some((items, property))
    }

    /// Checks what mapping left: settings with one honoured value, settings without effect,
    /// and unknown names, reported in one warning.
    fn finish(mut self, notices: &mut Vec<Notice>) -> anyhow::Result<()> {
        for (key, only, why) in ONLY_VALUE {
            if let Some(property) = self.take(key) {
                if !property.value.eq_ignore_ascii_case(only) {
                    return Err(self.error(&property, format!("only {only} is supported: {why}")));
                }
            }
        }
        for (key, why) in NO_EFFECT {
            if let Some(property) = self.take(key) {
                notices.push(Notice::Info(format!(
                    "{}:{}: {key} has no effect in Myelin: {why}",
                    self.origin, property.line
                )));
            }
        }
        if !self.by_key.is_empty() {
            let unknown: Vec<&str> = self.by_key.keys().map(String::as_str).collect();
            notices.push(Notice::Warn(format!(
                "{}: settings Myelin does not know, ignored: {}",
                self.origin,
                unknown.join(", ")
            )));
        }
        Ok(())
    }
}

/// `node.id` (or the older `broker.id`, which must agree with it), `process.roles` and
/// `controller.quorum.voters`.
fn identity(entries: &mut Entries<'_>, file: &mut FileConfig) -> anyhow::Result<()> {
    let node_id = entries.at_least::<i32>("node.id", 0)?;
    if let Some((broker_id, property)) = entries.parse_at::<i32>("broker.id")? {
        if node_id.is_some_and(|node_id| node_id != broker_id) {
            return Err(entries.error(&property, "must equal node.id when both are set"));
        }
        file.node_id = Some(broker_id);
    }
    file.node_id = node_id.or(file.node_id);
    if let Some(property) = entries.take("process.roles") {
        if property.value.is_empty() {
            return Err(entries.error(
                &property,
                "no roles means ZooKeeper mode, which is not supported; \
                 use broker, controller or broker,controller",
            ));
        }
        let roles = ProcessRoles::from_str(&property.value);
        file.process_roles = Some(roles.map_err(|e| entries.error(&property, e))?);
    }
    if let Some((voters, _)) = entries.parse_at::<VoterList>("controller.quorum.voters")? {
        file.controller_quorum_voters = Some(voters).filter(|voters| !voters.0.is_empty());
    }
    Ok(())
}

/// One entry of `listeners` or `advertised.listeners`: `NAME://host:port`.
#[derive(Debug, Clone)]
struct Listener {
    /// Upper-cased, as Kafka normalises listener names.
    name: String,
    host: String,
    port: u16,
}

impl FromStr for Listener {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (name, address) = text
            .split_once("://")
            .ok_or_else(|| format!("{text:?}: expected NAME://host:port"))?;
        if name.is_empty() {
            return Err(format!("{text:?}: the listener has no name"));
        }
        let (host, port) = split_host_port(address).map_err(|e| format!("{text:?}: {e}"))?;
        Ok(Listener {
            name: name.to_ascii_uppercase(),
            host,
            port,
        })
    }
}

/// The controller listener of this file, for recognising a standalone bootstrap server.
struct ControllerEndpoint {
    host: String,
    port: u16,
    advertised_host: Option<String>,
}

/// A named listener list, names unique.
fn listener_list(
    entries: &mut Entries<'_>,
    key: &str,
) -> anyhow::Result<Option<(Vec<Listener>, Property)>> {
    let Some((items, property)) = entries.list(key) else {
        return Ok(None);
    };
    let mut listeners: Vec<Listener> = Vec::new();
    for item in items {
        let listener = Listener::from_str(&item).map_err(|e| entries.error(&property, e))?;
        if listeners.iter().any(|other| other.name == listener.name) {
            let message = format!("listener {} is named twice", listener.name);
            return Err(entries.error(&property, message));
        }
        listeners.push(listener);
    }
    Ok(Some((listeners, property)))
}

/// `listener.security.protocol.map`: listener name to security protocol, both upper-cased.
fn protocol_map(entries: &mut Entries<'_>) -> anyhow::Result<Option<BTreeMap<String, String>>> {
    let Some((items, property)) = entries.list("listener.security.protocol.map") else {
        return Ok(None);
    };
    let mut map = BTreeMap::new();
    for item in items {
        let Some((name, protocol)) = item.split_once(':') else {
            let message = format!("{item:?}: expected NAME:PROTOCOL");
            return Err(entries.error(&property, message));
        };
        let protocol = protocol.trim().to_ascii_uppercase();
        if !SECURITY_PROTOCOLS.contains(&protocol.as_str()) {
            let message = format!("{item:?}: unknown security protocol {protocol}");
            return Err(entries.error(&property, message));
        }
        if map
            .insert(name.trim().to_ascii_uppercase(), protocol)
            .is_some()
        {
            let message = format!("listener {} is mapped twice", name.trim());
            return Err(entries.error(&property, message));
        }
    }
    Ok(Some(map))
}

/// `listeners`, `advertised.listeners`, `controller.listener.names`,
/// `listener.security.protocol.map` and `inter.broker.listener.name`: the client listener
/// becomes `listen` and the advertised address, the controller listener `controller_listen`.
fn listeners(
    entries: &mut Entries<'_>,
    file: &mut FileConfig,
) -> anyhow::Result<Option<ControllerEndpoint>> {
    let roles = file.process_roles.unwrap_or_default();
    let controller_names: BTreeSet<String> = entries
        .list("controller.listener.names")
        .map(|(names, _)| names.iter().map(|n| n.to_ascii_uppercase()).collect())
        .unwrap_or_default();
    let map = protocol_map(entries)?;
    let declared = listener_list(entries, "listeners")?;
    let advertised = listener_list(entries, "advertised.listeners")?;
    let inter_broker = entries.take("inter.broker.listener.name");

    // Check the protocol of every listener in use and of the controller names, which a
    // broker-only node uses to reach the controllers.
    let in_use: Vec<(&str, Option<&Property>)> = declared
        .iter()
        .flat_map(|(list, property)| list.iter().map(move |l| (l.name.as_str(), Some(property))))
        .chain(controller_names.iter().map(|name| (name.as_str(), None)))
        .collect();
    let mut protocols = BTreeMap::new();
    for (name, property) in in_use {
        let protocol = check_protocol(entries, name, property, map.as_ref(), &controller_names)?;
        if controller_names.contains(name) && protocol != SecurityProtocol::Plaintext {
            let message = format!(
                "the controller listener {name} must be PLAINTEXT: controllers talk among \
                 themselves over PLAINTEXT"
            );
            return Err(match property {
                Some(p) => entries.error(p, message),
                None => anyhow!("{}: controller.listener.names: {message}", entries.origin),
            });
        }
        protocols.insert(name.to_string(), protocol);
    }

    let mut client_name = "PLAINTEXT".to_string();
    let mut controller = None;
    if let Some((list, property)) = &declared {
        let (controllers, clients): (Vec<&Listener>, Vec<&Listener>) = list
            .iter()
            .partition(|listener| controller_names.contains(&listener.name));
        for (at, listener) in list.iter().enumerate() {
            if list
                .iter()
                .take(at)
                .any(|other| other.port == listener.port)
            {
                let message = format!("two listeners use port {}", listener.port);
                return Err(entries.error(property, message));
            }
        }
        let names = |listeners: &[&Listener]| -> String {
            let names: Vec<&str> = listeners.iter().map(|l| l.name.as_str()).collect();
            names.join(", ")
        };
        match (clients.as_slice(), roles.broker) {
            ([], true) => {
                let message = "a broker needs a client listener (one not in \
                               controller.listener.names)";
                return Err(entries.error(property, message));
            }
            (clients, true)
                if clients.len() > 1 && clients.iter().any(|c| c.name == "CONTROLLER") =>
            {
                let message = "listener CONTROLLER is taken for a client listener (is \
                               controller.listener.names missing?)";
                return Err(entries.error(property, message));
            }
            (clients, true) if !clients.is_empty() => {
                // The first client listener is the one brokers use among themselves (Kafka's
                // inter.broker.listener.name): it must be PLAINTEXT for now.
                let wanted = inter_broker.as_ref().map(|p| p.value.to_ascii_uppercase());
                let first = match &wanted {
                    Some(name) => clients.iter().find(|c| c.name == *name).copied(),
                    None if clients.len() == 1 => clients.first().copied(),
                    None => clients
                        .iter()
                        .find(|c| protocols.get(&c.name) == Some(&SecurityProtocol::Plaintext))
                        .copied(),
                };
                let Some(first) = first else {
                    let message = format!(
                        "brokers talk among themselves over a PLAINTEXT client listener, and \
                         none of {} is one",
                        names(clients)
                    );
                    return Err(entries.error(property, message));
                };
                if protocols.get(&first.name) != Some(&SecurityProtocol::Plaintext) {
                    let message = format!(
                        "listener {} carries the brokers' own traffic, which runs over \
                         PLAINTEXT for now; add a PLAINTEXT listener (for example on \
                         loopback) for it",
                        first.name
                    );
                    return Err(entries.error(property, message));
                }
                let address = bind_address(&first.host, first.port);
                file.listen = Some(address.map_err(|e| entries.error(property, e))?);
                client_name = first.name.clone();
                file.listener_name = Some(first.name.clone());
                for other in clients.iter().filter(|c| c.name != first.name) {
                    let address = bind_address(&other.host, other.port);
                    file.extra_listeners.push(ExtraListener {
                        name: other.name.clone(),
                        protocol: protocols
                            .get(&other.name)
                            .copied()
                            .unwrap_or(SecurityProtocol::Plaintext),
                        listen: address.map_err(|e| entries.error(property, e))?,
                        advertised_host: None,
                        advertised_port: None,
                    });
                }
            }
            ([], false) => {}
            (_, false) => {
                let message = format!(
                    "a controller-only node serves no clients; listeners {} are not in \
                     controller.listener.names",
                    names(&clients)
                );
                return Err(entries.error(property, message));
            }
            (_, true) => unreachable!("the empty list is matched above"),
        }
        match controllers.as_slice() {
            [] => {}
            [listener] => {
                let address = bind_address(&listener.host, listener.port);
                file.controller_listen = Some(address.map_err(|e| entries.error(property, e))?);
                controller = Some(ControllerEndpoint {
                    host: listener.host.clone(),
                    port: listener.port,
                    advertised_host: None,
                });
            }
            _ => {
                let message = format!(
                    "one controller listener is supported, not {}",
                    names(&controllers)
                );
                return Err(entries.error(property, message));
            }
        }
    }

    if let Some((list, property)) = &advertised {
        for listener in list {
            let known = match &declared {
                Some((declared, _)) => declared.iter().any(|d| d.name == listener.name),
                None => listener.name == client_name,
            };
            if !known {
                let message = format!("listener {} is not in listeners", listener.name);
                return Err(entries.error(property, message));
            }
            if listener
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_unspecified())
            {
                let message = format!(
                    "{} cannot be advertised: clients cannot connect to it",
                    listener.host
                );
                return Err(entries.error(property, message));
            }
            let host = Some(listener.host.clone()).filter(|host| !host.is_empty());
            if listener.name == client_name {
                file.advertised_host = host;
                file.advertised_port = Some(listener.port);
            } else if let Some(extra) = file
                .extra_listeners
                .iter_mut()
                .find(|e| e.name == listener.name)
            {
                extra.advertised_host = host;
                extra.advertised_port = Some(listener.port);
            } else if let Some(endpoint) = controller.as_mut() {
                endpoint.advertised_host = host;
            }
        }
    }

    if let Some(property) = inter_broker {
        if roles.broker && !property.value.eq_ignore_ascii_case(&client_name) {
            let message = format!("{} is not a client listener of this broker", property.value);
            return Err(entries.error(&property, message));
        }
    }
    Ok(controller)
}

/// The security protocol of listener `name`, if Myelin serves it. Without a protocol map a
/// listener named after a protocol uses it, and a controller listener defaults to PLAINTEXT,
/// as in Kafka.
fn check_protocol(
    entries: &Entries<'_>,
    name: &str,
    property: Option<&Property>,
    map: Option<&BTreeMap<String, String>>,
    controller_names: &BTreeSet<String>,
) -> anyhow::Result<SecurityProtocol> {
    let protocol = match map {
        Some(map) => map.get(name).map(String::as_str),
        None if SECURITY_PROTOCOLS.contains(&name) => Some(name),
        None if controller_names.contains(name) => Some("PLAINTEXT"),
        None => None,
    };
    let problem = match protocol {
        Some("PLAINTEXT") => return Ok(SecurityProtocol::Plaintext),
        Some("SASL_PLAINTEXT") => return Ok(SecurityProtocol::SaslPlaintext),
        Some("SSL") => return Ok(SecurityProtocol::Ssl),
        Some("SASL_SSL") => return Ok(SecurityProtocol::SaslSsl),
        Some(protocol) => format!("listener {name} uses {protocol}, which Myelin does not serve"),
        None => format!(
            "listener {name} has no security protocol: map it in \
             listener.security.protocol.map, or name it in controller.listener.names if it is \
             the controller listener"
        ),
    };
    match property {
        Some(property) => Err(entries.error(property, problem)),
        None => Err(anyhow!(
            "{}: controller.listener.names: {problem}",
            entries.origin
        )),
    }
}

/// The SASL settings of each SASL listener, with Kafka's names and Kafka's precedence (the
/// `listener.name.<listener>.` prefixed key first, then the plain one):
/// `sasl.enabled.mechanisms`, `<mechanism>.sasl.jaas.config` (PLAIN's `user_<name>="<password>"`
/// entries are its users) and `connections.max.reauth.ms`.
fn sasl(entries: &mut Entries<'_>, file: &mut FileConfig) -> anyhow::Result<()> {
    let global_mechanisms = entries.list("sasl.enabled.mechanisms");
    let global_reauth = entries.at_least::<i64>("connections.max.reauth.ms", 0)?;
    let global_jaas = entries.take("sasl.jaas.config");
    let names: Vec<String> = file
        .extra_listeners
        .iter()
        .filter(|l| l.protocol.sasl())
        .map(|l| l.name.clone())
        .collect();
    for name in names {
        let prefix = format!("listener.name.{}.", name.to_ascii_lowercase());
        let (mechanisms, property) = match entries.list(&format!("{prefix}sasl.enabled.mechanisms"))
        {
            Some(found) => (found.0, Some(found.1)),
            None => match &global_mechanisms {
                Some((m, p)) => (m.clone(), Some(p.clone())),
                None => (Vec::new(), None),
            },
        };
        let mechanisms: Vec<String> = mechanisms.iter().map(|m| m.to_ascii_uppercase()).collect();
        if mechanisms.is_empty() {
            return Err(anyhow!(
                "{}: listener {name} uses SASL: set sasl.enabled.mechanisms (PLAIN, \
                 SCRAM-SHA-256, SCRAM-SHA-512)",
                entries.origin
            ));
        }
        for m in &mechanisms {
            if !myelin_net::security::sasl::MECHANISMS.contains(&m.as_str()) {
                let message = format!(
                    "SASL mechanism {m} is not supported; PLAIN, SCRAM-SHA-256, \
                     SCRAM-SHA-512 and OAUTHBEARER are"
                );
                return Err(match &property {
                    Some(p) => entries.error(p, message),
                    None => anyhow!("{}: {message}", entries.origin),
                });
            }
        }
        let mut plain_users = BTreeMap::new();
        for m in &mechanisms {
            let key = format!("{prefix}{}.sasl.jaas.config", m.to_ascii_lowercase());
            let jaas = entries.take(&key).or_else(|| global_jaas.clone());
            if m == "PLAIN" {
                let Some(jaas) = jaas else {
                    return Err(anyhow!(
                        "{}: listener {name} enables PLAIN: set {key} with \
                         org.apache.kafka.common.security.plain.PlainLoginModule and its \
                         user_<name>=\"<password>\" entries",
                        entries.origin
                    ));
                };
                plain_users = jaas_users(&jaas.value).map_err(|e| entries.error(&jaas, e))?;
            }
        }
        let oauth = if mechanisms.iter().any(|m| m == "OAUTHBEARER") {
            Some(oauth(entries, &prefix, &name)?)
        } else {
            None
        };
        let reauth = entries.at_least::<i64>(&format!("{prefix}connections.max.reauth.ms"), 0)?;
        file.sasl.insert(
            name,
            SaslConfig {
                mechanisms,
                plain_users,
                max_reauth_ms: reauth.or(global_reauth).unwrap_or(0),
                oauth,
            },
        );
    }
    Ok(())
}

/// The TLS settings of each SSL and SASL_SSL listener, with Kafka's names, the
/// `listener.name.<listener>.` prefixed key first: `ssl.keystore.type` and
/// `ssl.truststore.type` (PEM only), `ssl.keystore.location`, `ssl.key.password`,
/// `ssl.truststore.location`, `ssl.client.auth`.
fn tls(entries: &mut Entries<'_>, file: &mut FileConfig) -> anyhow::Result<()> {
    const KEYS: &[&str] = &[
        "ssl.keystore.type",
        "ssl.keystore.location",
        "ssl.key.password",
        "ssl.keystore.password",
        "ssl.truststore.type",
        "ssl.truststore.location",
        "ssl.truststore.password",
        "ssl.client.auth",
        "ssl.enabled.protocols",
        "ssl.protocol",
        "ssl.endpoint.identification.algorithm",
    ];
    let global: BTreeMap<&str, Property> = KEYS
        .iter()
        .filter_map(|k| entries.take(k).map(|p| (*k, p)))
        .collect();
    let names: Vec<String> = file
        .extra_listeners
        .iter()
        .filter(|l| l.protocol.tls())
        .map(|l| l.name.clone())
        .collect();
    for name in names {
        let prefix = format!("listener.name.{}.", name.to_ascii_lowercase());
        let values: BTreeMap<&str, Property> = KEYS
            .iter()
            .filter_map(|key| {
                entries
                    .take(&format!("{prefix}{key}"))
                    .or_else(|| global.get(key).cloned())
                    .map(|p| (*key, p))
            })
            .collect();
        let get = |key: &str| values.get(key).cloned();
        for key in ["ssl.keystore.type", "ssl.truststore.type"] {
            if let Some(p) = get(key) {
                if !p.value.eq_ignore_ascii_case("PEM") {
                    return Err(entries.error(&p, "only PEM files are supported"));
                }
            }
        }
        let Some(keystore) = get("ssl.keystore.location") else {
            return Err(anyhow!(
                "{}: listener {name} uses TLS: set ssl.keystore.location (a PEM file with the \
                 private key and the certificate chain) and ssl.keystore.type=PEM",
                entries.origin
            ));
        };
        let client_auth = match get("ssl.client.auth") {
            Some(p) => p.value.parse().map_err(|e| entries.error(&p, e))?,
            None => myelin_net::security::tls::ClientAuth::None,
        };
        if let Some(p) = get("ssl.enabled.protocols") {
            for v in p.value.split(',').map(str::trim) {
                if !matches!(v, "TLSv1.2" | "TLSv1.3") {
                    return Err(entries.error(&p, format!("{v}: TLSv1.2 and TLSv1.3 are served")));
                }
            }
        }
        let config = myelin_net::security::tls::TlsConfig {
            keystore: keystore.value.clone().into(),
            key_password: get("ssl.key.password").map(|p| p.value),
            truststore: get("ssl.truststore.location").map(|p| p.value.into()),
            client_auth,
        };
        myelin_net::security::tls::server_config(&config)
            .map_err(|e| entries.error(&keystore, e))?;
        file.tls.insert(name, config);
    }
    Ok(())
}

/// OAUTHBEARER's settings for the listener with `prefix`: signed tokens checked against a
/// JWKS file (`sasl.oauthbearer.jwks.endpoint.url=file:...`), with Kafka's claim settings.
fn oauth(
    entries: &mut Entries<'_>,
    prefix: &str,
    listener: &str,
) -> anyhow::Result<myelin_net::security::oauth::OauthConfig> {
    let mut get = |key: &str| {
        entries
            .take(&format!("{prefix}oauthbearer.{key}"))
            .or_else(|| entries.take(&format!("{prefix}{key}")))
            .or_else(|| entries.take(key))
    };
    let handler = get("sasl.server.callback.handler.class");
    let jwks = get("sasl.oauthbearer.jwks.endpoint.url");
    let audience = get("sasl.oauthbearer.expected.audience");
    let issuer = get("sasl.oauthbearer.expected.issuer");
    let sub = get("sasl.oauthbearer.sub.claim.name");
    let skew = get("sasl.oauthbearer.clock.skew.seconds");
    let _login = get("sasl.jaas.config");
    if let Some(h) = &handler {
        if !h.value.ends_with("OAuthBearerValidatorCallbackHandler") {
            return Err(entries.error(
                h,
                "only org.apache.kafka.common.security.oauthbearer.\
                 OAuthBearerValidatorCallbackHandler (signed tokens, checked against a JWKS) \
                 is supported",
            ));
        }
    }
    let Some(jwks) = jwks else {
        return Err(anyhow!(
            "{}: listener {listener} enables OAUTHBEARER: set \
             sasl.oauthbearer.jwks.endpoint.url to a file: URL of the identity provider's JWKS",
            entries.origin
        ));
    };
    let Some(path) = jwks
        .value
        .strip_prefix("file://")
        .or(jwks.value.strip_prefix("file:"))
    else {
        return Err(entries.error(&jwks, "only file: URLs are supported"));
    };
    let clock_skew_s = match skew {
        Some(p) => p
            .value
            .parse::<i64>()
            .ok()
            .filter(|v| *v >= 0)
            .ok_or_else(|| entries.error(&p, "expected a non-negative number of seconds"))?,
        None => 30,
    };
    Ok(myelin_net::security::oauth::OauthConfig {
        jwks_file: path.into(),
        expected_audience: audience
            .map(|p| {
                p.value
                    .split(',')
                    .map(|a| a.trim().to_string())
                    .filter(|a| !a.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        expected_issuer: issuer.map(|p| p.value),
        sub_claim: sub.map(|p| p.value).unwrap_or_else(|| "sub".into()),
        clock_skew_s,
    })
}

/// The `user_<name>="<password>"` options of a JAAS login module line:
/// `org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="secret";`.
fn jaas_users(text: &str) -> Result<BTreeMap<String, String>, String> {
    let body = text.trim().trim_end_matches(';');
    let mut words = body.splitn(3, char::is_whitespace);
    let module = words.next().unwrap_or_default();
    if !module.ends_with("PlainLoginModule") && !module.ends_with("ScramLoginModule") {
        return Err(format!("login module {module} is not supported"));
    }
    let options = words.nth(1).unwrap_or_default();
    let mut users = BTreeMap::new();
    let mut rest = options.trim();
    while !rest.is_empty() {
        let (key, after) = rest
            .split_once('=')
            .ok_or_else(|| format!("expected key=\"value\" at {rest:?}"))?;
        let after = after.trim_start();
        let (value, tail) = match after.strip_prefix('"') {
            Some(quoted) => quoted
                .split_once('"')
                .ok_or_else(|| format!("unterminated value for {}", key.trim()))?,
            None => after.split_once(char::is_whitespace).unwrap_or((after, "")),
        };
        if let Some(user) = key.trim().strip_prefix("user_") {
            users.insert(user.to_string(), value.to_string());
        }
        rest = tail.trim();
    }
    Ok(users)
}

/// `controller.quorum.bootstrap.servers`, Kafka's dynamic quorum (KIP-853), which Myelin
/// does not have. Kafka's shipped `server.properties` names the node's own controller
/// listener there (a quorum formatted with `--standalone`): that is Myelin's single node
/// with no voter list. Anything else would make this node a quorum of its own, apart from
/// the others, so it is refused.
fn bootstrap_servers(
    entries: &mut Entries<'_>,
    file: &FileConfig,
    controller: Option<&ControllerEndpoint>,
    notices: &mut Vec<Notice>,
) -> anyhow::Result<()> {
    let Some((servers, property)) = entries.list("controller.quorum.bootstrap.servers") else {
        return Ok(());
    };
    let origin = entries.origin;
    if file.controller_quorum_voters.is_some() {
        notices.push(Notice::Info(format!(
            "{origin}:{}: controller.quorum.bootstrap.servers is not used: \
             controller.quorum.voters names the quorum",
            property.line
        )));
        return Ok(());
    }
    let roles = file.process_roles.unwrap_or_default();
    let own = |server: &String| -> bool {
        let Ok((host, port)) = split_host_port(server) else {
            return false;
        };
        let Some(endpoint) = controller else {
            return false;
        };
        let names_this_node = host.eq_ignore_ascii_case("localhost")
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
            || host.eq_ignore_ascii_case(&endpoint.host)
            || endpoint
                .advertised_host
                .as_ref()
                .is_some_and(|advertised| host.eq_ignore_ascii_case(advertised));
        port == endpoint.port && names_this_node
    };
    match servers.as_slice() {
        [server] if roles == ProcessRoles::default() && own(server) => {
            notices.push(Notice::Info(format!(
                "{origin}:{}: controller.quorum.bootstrap.servers names this node only: it \
                 runs as the only voter of its quorum",
                property.line
            )));
            Ok(())
        }
        _ => Err(entries.error(
            &property,
            "dynamic controller quorums are not supported; list the voters in \
             controller.quorum.voters (id@host:port,...)",
        )),
    }
}

/// `log.dirs` (or `log.dir`), the retention, segment and flush defaults, and the
/// housekeeping interval.
fn storage(entries: &mut Entries<'_>, file: &mut FileConfig) -> anyhow::Result<()> {
    let dirs = entries.list("log.dirs");
    let dir = entries.list("log.dir");
    // `log.dirs` wins over `log.dir`, as in Kafka.
    if let Some((dirs, property)) = dirs.or(dir) {
        match dirs.as_slice() {
            [dir] => file.data_dir = Some(dir.into()),
            [] => return Err(entries.error(&property, "names no directory")),
            _ => {
                let message = format!(
                    "{} directories given; Myelin keeps one data directory (JBOD is not \
                     supported)",
                    dirs.len()
                );
                return Err(entries.error(&property, message));
            }
        }
    }
    // Kafka's precedence: ms over minutes over hours; any negative value keeps forever.
    let ms = entries
        .parse_at::<i64>("log.retention.ms")?
        .map(|(ms, _)| ms);
    let minutes = entries.parse_at::<i32>("log.retention.minutes")?;
    let hours = entries.parse_at::<i32>("log.retention.hours")?;
    let retention_ms = ms
        .or(minutes.map(|(minutes, _)| i64::from(minutes) * 60_000))
        .or(hours.map(|(hours, _)| i64::from(hours) * 3_600_000));
    file.retention_ms = retention_ms.map(|ms| if ms < 0 { -1 } else { ms });
    file.retention_bytes = entries
        .parse_at("log.retention.bytes")?
        .map(|(bytes, _)| bytes);
    file.segment_bytes = entries.at_least(
        "log.segment.bytes",
        myelin_storage::limits::SEGMENT_BYTES_MIN,
    )?;
    file.flush_messages = entries.at_least("log.flush.interval.messages", 1)?;
    file.housekeeping_interval_ms = entries.at_least("log.retention.check.interval.ms", 1)?;
    Ok(())
}

/// Topic creation defaults, the internal topics' partitions, and the group coordinator.
fn topics_and_groups(entries: &mut Entries<'_>, file: &mut FileConfig) -> anyhow::Result<()> {
    file.default_partitions = entries.at_least("num.partitions", 1)?;
    file.auto_create_topics = entries.boolean("auto.create.topics.enable")?;
    file.offsets_topic_partitions = entries.at_least("offsets.topic.num.partitions", 1)?;
    file.transaction_state_partitions =
        entries.at_least("transaction.state.log.num.partitions", 1)?;
    file.offsets_retention_ms = entries
        .at_least::<i32>("offsets.retention.minutes", 1)?
        .map(|minutes| i64::from(minutes) * 60_000);
    file.group_initial_rebalance_delay_ms =
        entries.at_least("group.initial.rebalance.delay.ms", 0)?;
    file.group_min_session_timeout_ms = entries.at_least("group.min.session.timeout.ms", 0)?;
    file.group_max_session_timeout_ms = entries.at_least("group.max.session.timeout.ms", 0)?;
    Ok(())
}

/// `max.connections.per.ip`, its overrides and `max.connection.creation.rate`. Kafka's
/// default for each is `Int.MaxValue`, which maps to no limit.
fn connection_limits(entries: &mut Entries<'_>, file: &mut FileConfig) -> anyhow::Result<()> {
    let unlimited = |v: Option<u32>| v.filter(|n| *n < i32::MAX as u32);
    file.max_connections_per_ip = unlimited(entries.at_least("max.connections.per.ip", 0)?);
    file.max_connections_per_ip_overrides = entries
        .take("max.connections.per.ip.overrides")
        .map(|property| property.value)
        .filter(|v| !v.is_empty());
    file.max_connection_creation_rate =
        unlimited(entries.at_least("max.connection.creation.rate", 0)?);
    Ok(())
}

/// Replication factors, in-sync minimums, broker liveness and leader election.
fn replication(entries: &mut Entries<'_>, file: &mut FileConfig) -> anyhow::Result<()> {
    file.rack = entries
        .take("broker.rack")
        .map(|property| property.value)
        .filter(|rack| !rack.is_empty());
    file.default_replication_factor = entries.at_least("default.replication.factor", 1)?;
    file.min_insync_replicas = entries.at_least("min.insync.replicas", 1)?;
    file.offsets_topic_replication_factor =
        entries.at_least("offsets.topic.replication.factor", 1)?;
    file.transaction_state_replication_factor =
        entries.at_least("transaction.state.log.replication.factor", 1)?;
    file.transaction_state_min_isr = entries.at_least("transaction.state.log.min.isr", 1)?;
    file.broker_session_timeout_ms = entries.at_least("broker.session.timeout.ms", 1)?;
    file.broker_heartbeat_interval_ms = entries.at_least("broker.heartbeat.interval.ms", 1)?;
    file.replica_lag_time_max_ms = entries.at_least("replica.lag.time.max.ms", 1)?;
    file.unclean_leader_election_enable = entries.boolean("unclean.leader.election.enable")?;
    file.auto_leader_rebalance_enable = entries.boolean("auto.leader.rebalance.enable")?;
    file.leader_imbalance_check_interval_seconds =
        entries.at_least("leader.imbalance.check.interval.seconds", 1)?;
    Ok(())
}

/// The authorizer: its class, super users, and the rule for resources without ACLs.
fn authorization(entries: &mut Entries<'_>, file: &mut FileConfig) -> anyhow::Result<()> {
    file.authorizer_class_name = entries
        .take("authorizer.class.name")
        .map(|property| property.value);
    file.super_users = entries.take("super.users").map(|property| property.value);
    file.allow_everyone_if_no_acl_found = entries.boolean("allow.everyone.if.no.acl.found")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{Args, Notice, Settings, Voter};
    use std::net::SocketAddr;
    use std::path::PathBuf;

    /// Resolves `text` as `server.properties`, under `args`.
    fn resolve_with(text: &str, args: Args) -> anyhow::Result<(Settings, Vec<Notice>)> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("server.properties");
        std::fs::write(&path, text)?;
        Settings::resolve(Args {
            config: Some(path),
            ..args
        })
    }

    fn resolve(text: &str) -> anyhow::Result<(Settings, Vec<Notice>)> {
        resolve_with(text, Args::default())
    }

    fn error_of(text: &str) -> String {
        format!("{:#}", resolve(text).unwrap_err())
    }

    fn address(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    fn warnings(notices: &[Notice]) -> Vec<&str> {
        notices
            .iter()
            .filter_map(|notice| match notice {
                Notice::Warn(message) => Some(message.as_str()),
                Notice::Info(_) => None,
            })
            .collect()
    }

    #[test]
    fn connection_limits_take_kafkas_names() {
        let (s, _) = resolve(
            "max.connections.per.ip=5\n\
             max.connections.per.ip.overrides=127.0.0.1:100, 10.0.0.2:0\n\
             max.connection.creation.rate=20\n",
        )
        .unwrap();
        let l = &s.connection_limits;
        assert_eq!(l.per_ip_max, Some(5));
        assert_eq!(
            l.per_ip_overrides,
            vec![
                ("127.0.0.1".parse().unwrap(), 100),
                ("10.0.0.2".parse().unwrap(), 0)
            ]
        );
        assert_eq!(l.creation_rate_max, Some(20.0));
        // Kafka's defaults (Int.MaxValue) are no limit.
        let (s, _) = resolve("max.connections.per.ip=2147483647\n").unwrap();
        assert_eq!(s.connection_limits, Default::default());
        assert!(error_of("max.connections.per.ip.overrides=localhost\n").contains("host:count"));
    }

    /// Node `id` of a three-node combined-mode cluster on 127.0.0.11-13, as a Kafka 4.4
    /// operator writes it.
    fn combined_node(id: u8) -> String {
        format!(
            "process.roles=broker,controller\n\
             node.id={id}\n\
             controller.quorum.voters=1@127.0.0.11:9093,2@127.0.0.12:9093,3@127.0.0.13:9093\n\
             listeners=PLAINTEXT://127.0.0.1{id}:9092,CONTROLLER://127.0.0.1{id}:9093\n\
             advertised.listeners=PLAINTEXT://127.0.0.1{id}:9092\n\
             controller.listener.names=CONTROLLER\n\
             inter.broker.listener.name=PLAINTEXT\n\
             listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,\
             SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL\n\
             log.dirs=/var/lib/kafka/node-{id}\n\
             num.partitions=3\n\
             default.replication.factor=3\n\
             min.insync.replicas=2\n\
             offsets.topic.replication.factor=3\n\
             transaction.state.log.replication.factor=3\n\
             transaction.state.log.min.isr=2\n\
             broker.rack=rack-{id}\n"
        )
    }

    #[test]
    fn three_node_combined_mode_files() {
        for id in 1..=3u8 {
            let (s, notices) = resolve(&combined_node(id)).unwrap();
            assert_eq!(s.node_id, i32::from(id));
            assert!(s.process_roles.broker && s.process_roles.controller);
            assert_eq!(
                s.controller_quorum_voters,
                (1..=3)
                    .map(|v| Voter {
                        id: v,
                        host: format!("127.0.0.1{v}"),
                        port: 9093
                    })
                    .collect::<Vec<_>>()
            );
            assert_eq!(s.listen, address(&format!("127.0.0.1{id}:9092")));
            assert_eq!(
                s.controller_listen,
                Some(address(&format!("127.0.0.1{id}:9093")))
            );
            assert_eq!(
                (s.advertised_host.as_str(), s.advertised_port),
                (format!("127.0.0.1{id}").as_str(), 9092)
            );
            assert_eq!(
                s.data_dir,
                PathBuf::from(format!("/var/lib/kafka/node-{id}"))
            );
            assert_eq!(s.default_partitions, 3);
            assert_eq!(
                (
                    s.default_replication_factor,
                    s.offsets_topic_replication_factor,
                    s.transaction_state_replication_factor
                ),
                (3, 3, 3)
            );
            assert_eq!((s.min_insync_replicas, s.transaction_state_min_isr), (2, 2));
            assert_eq!(s.rack, Some(format!("rack-{id}")));
            assert!(notices.is_empty(), "node {id}: {notices:?}");
        }
    }

    /// The layout of the `config/server.properties` Kafka 4 ships (a combined single node
    /// with a standalone dynamic quorum), comments in its style, one value continued.
    const SHIPPED_STYLE: &str = "\
# Licensed under the Apache License, Version 2.0 (comment block as in the shipped file)
#
############################# Server Basics #############################

# The role of this server. Setting this puts us in KRaft mode
process.roles=broker,controller

# The node id associated with this instance's roles
node.id=1

# List of controller endpoints used connect to the controller cluster
controller.quorum.bootstrap.servers=localhost:9093

############################# Socket Server Settings #############################

# The address the socket server listens on.
#   FORMAT:
#     listeners = listener_name://host_name:port
#   EXAMPLE:
#     listeners = PLAINTEXT://your.host.name:9092
listeners=PLAINTEXT://:9092,\\
          CONTROLLER://:9093

# Name of listener used for communication between brokers.
inter.broker.listener.name=PLAINTEXT

# Listener name, hostname and port the broker or the controller will advertise to clients.
advertised.listeners=PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093

# A comma-separated list of the names of the listeners used by the controller.
controller.listener.names=CONTROLLER

# Maps listener names to security protocols, the default is for them to be the same.
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL

# The number of threads that the server uses for receiving requests from the network
num.network.threads=3

# The number of threads that the server uses for processing requests
num.io.threads=8

# The send buffer (SO_SNDBUF) used by the socket server
socket.send.buffer.bytes=102400

# The receive buffer (SO_RCVBUF) used by the socket server
socket.receive.buffer.bytes=102400

# The maximum size of a request that the socket server will accept
socket.request.max.bytes=104857600

############################# Log Basics #############################

# A comma separated list of directories under which to store log files
log.dirs=/tmp/kraft-combined-logs

# The default number of log partitions per topic.
num.partitions=1

# The number of threads per data directory to be used for log recovery at startup.
num.recovery.threads.per.data.dir=1

############################# Internal Topic Settings  #############################
# For anything other than development testing, a value greater than 1 is recommended.
offsets.topic.replication.factor=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1

############################# Log Flush Policy #############################

# The number of messages to accept before forcing a flush of data to disk
#log.flush.interval.messages=10000

# The maximum amount of time a message can sit in a log before we force a flush
#log.flush.interval.ms=1000

############################# Log Retention Policy #############################

# The minimum age of a log file to be eligible for deletion due to age
log.retention.hours=168

# A size-based retention policy for logs.
#log.retention.bytes=1073741824

# The maximum size of a log segment file.
log.segment.bytes=1073741824

# The interval at which log segments are checked to see if they can be deleted
log.retention.check.interval.ms=300000
";

    #[test]
    fn kafkas_shipped_server_properties() {
        let (s, notices) = resolve(SHIPPED_STYLE).unwrap();
        assert_eq!(s.node_id, 1);
        assert!(s.controller_quorum_voters.is_empty());
        // An empty host is every interface, as in Kafka.
        assert_eq!(s.listen, address("0.0.0.0:9092"));
        assert_eq!(s.controller_listen, Some(address("0.0.0.0:9093")));
        assert_eq!(
            (s.advertised_host.as_str(), s.advertised_port),
            ("localhost", 9092)
        );
        assert_eq!(s.data_dir, PathBuf::from("/tmp/kraft-combined-logs"));
        assert_eq!(s.log_defaults.retention_ms, 168 * 3_600_000);
        assert_eq!(s.log_defaults.segment_bytes, 1 << 30);
        assert_eq!(s.housekeeping_interval_ms, 300_000);
        assert_eq!(s.offsets_topic_replication_factor, 1);
        assert!(warnings(&notices).is_empty(), "{notices:?}");
        let infos: Vec<&str> = notices
            .iter()
            .filter_map(|n| match n {
                Notice::Info(m) => Some(m.as_str()),
                Notice::Warn(_) => None,
            })
            .collect();
        // One line for the bootstrap server, one per setting without effect.
        assert_eq!(infos.len(), 1 + 8, "{infos:#?}");
        assert!(infos.iter().any(|m| m.contains("only voter")));
        assert!(infos
            .iter()
            .any(|m| m.contains(":37: num.network.threads has no effect")));
    }

    #[test]
    fn unknown_names_are_one_warning_and_not_fatal() {
        let (s, notices) = resolve(
            "num.partitions=4\n\
             log.cleanup.policy=compact\n\
             num.replica.fetchers=4\n\
             message.max.bytes=2000000\n\
             num.partitions=5\n",
        )
        .unwrap();
        assert_eq!(s.default_partitions, 5);
        let warnings = warnings(&notices);
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(warnings.iter().any(|w| w.contains(
            "does not know, ignored: log.cleanup.policy, message.max.bytes, num.replica.fetchers"
        )));
        assert!(warnings
            .iter()
            .any(|w| w.contains(":5: num.partitions is also set on line 1")));
    }

    #[test]
    fn bad_values_are_fatal_and_name_the_key() {
        for (text, expected) in [
            ("num.partitions=abc\n", ":1: num.partitions"),
            (
                "\n\nnum.partitions=0\n",
                ":3: num.partitions: must be at least 1",
            ),
            (
                "auto.create.topics.enable=yes\n",
                "auto.create.topics.enable",
            ),
            (
                "default.replication.factor=70000\n",
                "default.replication.factor",
            ),
            ("min.insync.replicas=0\n", "min.insync.replicas"),
            ("node.id=-1\n", "node.id"),
            ("node.id=1\nbroker.id=2\n", "broker.id: must equal node.id"),
            (
                "log.segment.bytes=100\n",
                "log.segment.bytes: must be at least",
            ),
            ("log.retention.hours=a week\n", "log.retention.hours"),
            ("broker.session.timeout.ms=0\n", "broker.session.timeout.ms"),
            (
                "process.roles=\n",
                "process.roles: no roles means ZooKeeper mode",
            ),
            ("process.roles=broker,observer\n", "process.roles"),
            (
                "controller.quorum.voters=1@a:9093,1@b:9093\n",
                "controller.quorum.voters",
            ),
            ("listeners=PLAINTEXT://localhost\n", "listeners"),
            (
                "listeners=PLAINTEXT://:9092,CLIENT://:9092\n\
                 listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CLIENT:PLAINTEXT\n",
                "listeners: two listeners use port 9092",
            ),
            (
                "advertised.listeners=PLAINTEXT://0.0.0.0:9092\n",
                "advertised.listeners: 0.0.0.0",
            ),
            (
                "advertised.listeners=EXTERNAL://h:9092\n",
                "listener EXTERNAL is not in listeners",
            ),
            (
                "inter.broker.listener.name=REPLICATION\n",
                "inter.broker.listener.name",
            ),
            (
                "listener.security.protocol.map=PLAINTEXT:TLS\n",
                "unknown security protocol TLS",
            ),
            (
                "ssl.keystore.password=${file:/etc/secrets:pw}\n",
                "ssl.keystore.password: config provider",
            ),
            ("config.providers=file\n", "config.providers"),
            (
                "zookeeper.connect=localhost:2181\n",
                "zookeeper.connect: ZooKeeper mode",
            ),
            (
                "delete.topic.enable=false\n",
                "delete.topic.enable: only true",
            ),
            (
                "security.inter.broker.protocol=SSL\n",
                "security.inter.broker.protocol",
            ),
            ("log.dirs=\n", "log.dirs: names no directory"),
            ("a=1\nb=\\u00zz\n", "line 2: malformed"),
        ] {
            let error = error_of(text);
            assert!(error.contains(expected), "{text:?}: {error}");
            assert!(error.contains("server.properties"), "{text:?}: {error}");
        }
        // A boolean in any case, as Kafka reads it.
        let (s, _) = resolve("auto.create.topics.enable=FALSE\n").unwrap();
        assert!(!s.auto_create_topics);
    }

    #[test]
    fn flags_win_over_the_properties_file() {
        let args = Args::default();
        let args = Args {
            node_id: Some(2),
            listen: Some(address("127.0.0.12:9092")),
            controller_listen: Some(address("127.0.0.12:9093")),
            advertised_host: Some("broker-2.example".into()),
            default_partitions: Some(12),
            retention_ms: Some(1_000),
            min_insync_replicas: Some(1),
            ..args
        };
        let (s, _) = resolve_with(&combined_node(1), args).unwrap();
        assert_eq!(s.node_id, 2);
        assert_eq!(s.listen, address("127.0.0.12:9092"));
        assert_eq!(s.controller_listen, Some(address("127.0.0.12:9093")));
        assert_eq!(
            (s.advertised_host.as_str(), s.advertised_port),
            ("broker-2.example", 9092)
        );
        assert_eq!(s.default_partitions, 12);
        assert_eq!(s.log_defaults.retention_ms, 1_000);
        assert_eq!(s.min_insync_replicas, 1);
        // What no flag overrode still comes from the file.
        assert_eq!(s.default_replication_factor, 3);
        assert_eq!(s.controller_quorum_voters.len(), 3);
    }

    #[test]
    fn retention_ms_over_minutes_over_hours() {
        let retention = |text: &str| resolve(text).unwrap().0.log_defaults.retention_ms;
        assert_eq!(retention("log.retention.hours=24\n"), 24 * 3_600_000);
        assert_eq!(
            retention("log.retention.hours=24\nlog.retention.minutes=90\n"),
            90 * 60_000
        );
        assert_eq!(
            retention("log.retention.hours=24\nlog.retention.minutes=90\nlog.retention.ms=5000\n"),
            5_000
        );
        assert_eq!(
            retention("log.retention.ms=5000\nlog.retention.hours=24\n"),
            5_000
        );
        // Any negative value keeps forever.
        assert_eq!(retention("log.retention.hours=-1\n"), -1);
        assert_eq!(retention("log.retention.minutes=-5\n"), -1);
        let (s, _) = resolve(
            "log.retention.bytes=1073741824\nlog.flush.interval.messages=10000\n\
             offsets.retention.minutes=10080\ngroup.initial.rebalance.delay.ms=0\n",
        )
        .unwrap();
        assert_eq!(s.log_defaults.retention_bytes, 1 << 30);
        assert_eq!(s.log_defaults.flush_messages, 10_000);
        assert_eq!(s.offsets_retention_ms, 7 * 24 * 3_600_000);
        assert_eq!(s.group_initial_rebalance_delay_ms, 0);
    }

    #[test]
    fn the_brokers_own_listener_is_plaintext() {
        // A listener named after a protocol uses it when there is no map.
        let error = error_of("listeners=SSL://:9093\n");
        assert!(
            error.contains("listener SSL carries the brokers' own traffic"),
            "{error}"
        );
        let error = error_of(
            "listeners=CLIENT://:9092\n\
             listener.security.protocol.map=CLIENT:SASL_SSL,CONTROLLER:PLAINTEXT\n",
        );
        assert!(
            error.contains("listener CLIENT carries the brokers' own traffic"),
            "{error}"
        );
        let error = error_of(
            "listeners=CLIENT://:9092\nlistener.security.protocol.map=PLAINTEXT:PLAINTEXT\n",
        );
        assert!(error.contains("CLIENT has no security protocol"), "{error}");
        // The controller listener a broker-only node would dial must be PLAINTEXT too.
        let error = error_of(
            "process.roles=broker\nnode.id=4\ncontroller.quorum.voters=1@c1:9093\n\
             controller.listener.names=CONTROLLER\n\
             listener.security.protocol.map=CONTROLLER:SSL,PLAINTEXT:PLAINTEXT\n",
        );
        assert!(
            error.contains("controller listener CONTROLLER must be PLAINTEXT"),
            "{error}"
        );
        // A named client listener mapped to PLAINTEXT is fine.
        let (s, _) = resolve(
            "listeners=CLIENT://127.0.0.1:19092\nlistener.security.protocol.map=CLIENT:plaintext\n\
             inter.broker.listener.name=client\n",
        )
        .unwrap();
        assert_eq!(s.listen, address("127.0.0.1:19092"));
    }

    #[test]
    fn sasl_listeners_take_mechanisms_and_plain_users() {
        let (s, _) = resolve(
            "listeners=PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:9094\n\
             advertised.listeners=PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://localhost:19094\n\
             sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256\n\
             connections.max.reauth.ms=60000\n\
             listener.name.sasl_plaintext.plain.sasl.jaas.config=\
             org.apache.kafka.common.security.plain.PlainLoginModule required \
             username=\"admin\" password=\"admin-secret\" user_admin=\"admin-secret\" \
             user_alice=\"alice secret\";\n",
        )
        .unwrap();
        let sasl = &s.extra_listeners[0];
        assert_eq!(
            sasl.protocol,
            myelin_net::security::SecurityProtocol::SaslPlaintext
        );
        assert_eq!(
            (sasl.advertised_host.as_str(), sasl.advertised_port),
            ("localhost", 19094)
        );
        assert_eq!(sasl.sasl.mechanisms, ["PLAIN", "SCRAM-SHA-256"]);
        assert_eq!(sasl.sasl.plain_users["alice"], "alice secret");
        assert_eq!(sasl.sasl.plain_users.len(), 2);
        assert_eq!(sasl.sasl.max_reauth_ms, 60_000);
        let only_sasl =
            error_of("listeners=SASL_PLAINTEXT://127.0.0.1:9094\nsasl.enabled.mechanisms=PLAIN\n");
        assert!(
            only_sasl.contains("add a PLAINTEXT listener"),
            "{only_sasl}"
        );
        let gssapi = error_of(
            "listeners=PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:9094\n\
             sasl.enabled.mechanisms=GSSAPI\n",
        );
        assert!(gssapi.contains("GSSAPI is not supported"), "{gssapi}");
        let no_users = error_of(
            "listeners=PLAINTEXT://127.0.0.1:9092,SASL_PLAINTEXT://127.0.0.1:9094\n\
             sasl.enabled.mechanisms=PLAIN\n",
        );
        assert!(no_users.contains("PlainLoginModule"), "{no_users}");
        let ssl = error_of("listeners=PLAINTEXT://127.0.0.1:9092,SSL://127.0.0.1:9093\n");
        assert!(
            ssl.contains("listener SSL uses TLS: set ssl.keystore.location"),
            "{ssl}"
        );
    }

    #[test]
    fn one_client_and_one_controller_listener() {
        let error = error_of("listeners=PLAINTEXT://:9092,CONTROLLER://:9093\n");
        assert!(
            error.contains("or name it in controller.listener.names"),
            "{error}"
        );
        let error = error_of(
            "listeners=PLAINTEXT://:9092,CONTROLLER://:9093\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n",
        );
        assert!(
            error.contains("controller.listener.names missing?"),
            "{error}"
        );
        let (s, _) = resolve(
            "listeners=PLAINTEXT://127.0.0.1:9092,INTERNAL://127.0.0.1:9094\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT\n",
        )
        .unwrap();
        assert_eq!(s.listener_name, "PLAINTEXT");
        assert_eq!(s.extra_listeners.len(), 1);
        assert_eq!(s.extra_listeners[0].listen, address("127.0.0.1:9094"));
        let error =
            error_of("listeners=CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n");
        assert!(
            error.contains("a broker needs a client listener"),
            "{error}"
        );
        let error = error_of(
            "process.roles=controller\nnode.id=1\ncontroller.quorum.voters=1@127.0.0.11:9093\n\
             listeners=PLAINTEXT://:9092,CONTROLLER://:9093\n\
             controller.listener.names=CONTROLLER\n",
        );
        assert!(
            error.contains("a controller-only node serves no clients"),
            "{error}"
        );
        // A dedicated controller: its listener comes from the file, no client listener.
        let (s, _) = resolve(
            "process.roles=controller\nnode.id=1\n\
             controller.quorum.voters=1@127.0.0.11:9093,2@127.0.0.12:9093,3@127.0.0.13:9093\n\
             listeners=CONTROLLER://127.0.0.11:9093\ncontroller.listener.names=CONTROLLER\n",
        )
        .unwrap();
        assert_eq!(s.controller_listen, Some(address("127.0.0.11:9093")));
        // A dedicated broker must not have one.
        let error = error_of(
            "process.roles=broker\nnode.id=4\n\
             controller.quorum.voters=1@127.0.0.11:9093,2@127.0.0.12:9093,3@127.0.0.13:9093\n\
             listeners=PLAINTEXT://127.0.0.14:9092,CONTROLLER://127.0.0.14:9093\n\
             controller.listener.names=CONTROLLER\n",
        );
        assert!(error.contains("no controller listener"), "{error}");
    }

    #[test]
    fn one_log_directory_only() {
        let error = error_of("log.dirs=/data/a,/data/b\n");
        assert!(
            error.contains("log.dirs: 2 directories") && error.contains("JBOD is not supported"),
            "{error}"
        );
        let (s, _) = resolve("log.dir=/data/one\n").unwrap();
        assert_eq!(s.data_dir, PathBuf::from("/data/one"));
        // `log.dirs` wins over `log.dir`, as in Kafka.
        let (s, _) = resolve("log.dir=/data/one\nlog.dirs=/data/two\n").unwrap();
        assert_eq!(s.data_dir, PathBuf::from("/data/two"));
    }

    #[test]
    fn voters_are_checked_against_roles() {
        let voters = "controller.quorum.voters=1@127.0.0.11:9093,2@127.0.0.12:9093\n";
        let (_, notices) = resolve(&format!("node.id=1\n{voters}")).unwrap();
        assert!(
            warnings(&notices)
                .iter()
                .any(|w| w.contains("even number of voters")),
            "{notices:?}"
        );
        let error = error_of(&format!("node.id=7\n{voters}"));
        assert!(
            error.contains("node 7 is a controller but not one of"),
            "{error}"
        );
        let error = error_of(&format!("node.id=2\nprocess.roles=broker\n{voters}"));
        assert!(error.contains("but only a broker"), "{error}");
        let error = error_of("process.roles=broker\nnode.id=4\n");
        assert!(
            error.contains("needs the controller quorum voters"),
            "{error}"
        );
    }

    #[test]
    fn a_dynamic_quorum_is_only_accepted_as_the_standalone_node() {
        let node = |bootstrap: &str, advertised: &str| {
            format!(
                "node.id=2\ncontroller.quorum.bootstrap.servers={bootstrap}\n\
                 listeners=PLAINTEXT://:9092,CONTROLLER://:9093\n\
                 advertised.listeners=PLAINTEXT://{advertised}:9092,\
                 CONTROLLER://{advertised}:9093\n\
                 controller.listener.names=CONTROLLER\n"
            )
        };
        assert!(resolve(&node("localhost:9093", "node-2")).is_ok());
        assert!(resolve(&node("127.0.0.1:9093", "node-2")).is_ok());
        assert!(resolve(&node("node-2:9093", "node-2")).is_ok());
        // Another node's controller, or several: this node would be a quorum of its own.
        for bootstrap in ["node-1:9093", "localhost:9094", "node-1:9093,node-2:9093"] {
            let error = error_of(&node(bootstrap, "node-2"));
            assert!(
                error.contains("dynamic controller quorums are not supported"),
                "{error}"
            );
        }
        // With static voters the bootstrap servers are not used.
        let (s, notices) = resolve(&format!(
            "{}controller.quorum.bootstrap.servers=127.0.0.11:9093\n",
            combined_node(1)
        ))
        .unwrap();
        assert_eq!(s.controller_quorum_voters.len(), 3);
        assert!(matches!(notices.as_slice(), [Notice::Info(m)] if m.contains("not used")));
    }
}

#[cfg(test)]
mod authorizer_tests {
    use super::super::{Args, Settings};

    fn resolve(text: &str) -> anyhow::Result<Settings> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("server.properties");
        std::fs::write(&path, text)?;
        Settings::resolve(Args {
            config: Some(path),
            ..Args::default()
        })
        .map(|(s, _)| s)
    }

    #[test]
    fn the_authorizer_settings_take_kafkas_names() {
        let s = resolve("").unwrap();
        assert!(!s.authorizer && s.super_users.is_empty() && !s.allow_everyone_if_no_acl_found);
        let s = resolve(
            "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n\
             super.users=User:admin; User:ops\nallow.everyone.if.no.acl.found=true\n",
        )
        .unwrap();
        assert!(s.authorizer && s.allow_everyone_if_no_acl_found);
        assert_eq!(s.super_users, ["User:admin", "User:ops"]);
        assert!(!resolve("authorizer.class.name=\n").unwrap().authorizer);
        let other = resolve("authorizer.class.name=kafka.security.authorizer.AclAuthorizer\n");
        assert!(format!("{:#}", other.unwrap_err()).contains("not supported"));
        assert!(resolve("super.users=admin\n").is_err());
    }
}
