//! What cluster metadata holds for security and multi-tenancy: SCRAM credentials, ACLs and
//! client quotas, in Kafka's model and with Kafka's numeric codes, so the endpoint maps the
//! wire to them and back without tables of its own.
//!
//! * A SCRAM credential is stored salted (RFC 5802: salt, iterations, `StoredKey`,
//!   `ServerKey`); the password itself never reaches the broker that stores it, as Kafka's
//!   AlterUserScramCredentials sends only the salted password.
//! * An ACL is one binding: a resource pattern (type, name, LITERAL or PREFIXED) and an entry
//!   (principal, host, operation, ALLOW or DENY). Bindings are a set: creating one twice is a
//!   no-op, as in Kafka.
//! * A client quota is a value per (entity, key), the entity being the user and client-id
//!   parts Kafka names (`user`, `client-id`, with `None` for the default entity).

use rkyv::{Archive, Deserialize, Serialize};
use std::collections::BTreeMap;

/// SCRAM mechanism codes, as Kafka's `ScramMechanism` numbers them on the wire.
pub mod scram_mechanism {
    /// SCRAM-SHA-256.
    pub const SHA_256: u8 = 1;
    /// SCRAM-SHA-512.
    pub const SHA_512: u8 = 2;

    /// The SASL mechanism name of a code.
    pub fn name(code: u8) -> Option<&'static str> {
        match code {
            SHA_256 => Some("SCRAM-SHA-256"),
            SHA_512 => Some("SCRAM-SHA-512"),
            _ => None,
        }
    }

    /// The code of a SASL mechanism name.
    pub fn from_name(name: &str) -> Option<u8> {
        match name {
            "SCRAM-SHA-256" => Some(SHA_256),
            "SCRAM-SHA-512" => Some(SHA_512),
            _ => None,
        }
    }
}

/// Fewest and most PBKDF2 iterations a credential may use (Kafka's bounds).
pub const SCRAM_ITERATIONS: std::ops::RangeInclusive<i32> = 4096..=16384;

/// One user's salted credential for one mechanism.
#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct ScramCredential {
    /// The salt.
    pub salt: Vec<u8>,
    /// PBKDF2 iterations.
    pub iterations: i32,
    /// `H(ClientKey)`.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: Vec<u8>,
}

/// Kafka's `ResourceType` codes.
pub mod resource_type {
    /// Matches any type, in filters only.
    pub const ANY: i8 = 1;
    /// A topic.
    pub const TOPIC: i8 = 2;
    /// A consumer group.
    pub const GROUP: i8 = 3;
    /// The cluster (`kafka-cluster`).
    pub const CLUSTER: i8 = 4;
    /// A transactional id.
    pub const TRANSACTIONAL_ID: i8 = 5;
    /// A delegation token.
    pub const DELEGATION_TOKEN: i8 = 6;
    /// A user (for delegation tokens).
    pub const USER: i8 = 7;
}

/// Kafka's `PatternType` codes.
pub mod pattern_type {
    /// Matches any pattern type, in filters only.
    pub const ANY: i8 = 1;
    /// In filters only: every binding that matches the name (literal, prefix or wildcard).
    pub const MATCH: i8 = 2;
    /// The name exactly, or `*` for every name.
    pub const LITERAL: i8 = 3;
    /// Every name that starts with the pattern's name.
    pub const PREFIXED: i8 = 4;
}

/// Kafka's `AclOperation` codes.
pub mod operation {
    /// Matches any operation, in filters only.
    pub const ANY: i8 = 1;
    /// Every operation.
    pub const ALL: i8 = 2;
    /// Read.
    pub const READ: i8 = 3;
    /// Write.
    pub const WRITE: i8 = 4;
    /// Create.
    pub const CREATE: i8 = 5;
    /// Delete.
    pub const DELETE: i8 = 6;
    /// Alter.
    pub const ALTER: i8 = 7;
    /// Describe.
    pub const DESCRIBE: i8 = 8;
    /// Cluster action (inter-broker requests).
    pub const CLUSTER_ACTION: i8 = 9;
    /// Describe configs.
    pub const DESCRIBE_CONFIGS: i8 = 10;
    /// Alter configs.
    pub const ALTER_CONFIGS: i8 = 11;
    /// Idempotent write.
    pub const IDEMPOTENT_WRITE: i8 = 12;
    /// Create delegation tokens.
    pub const CREATE_TOKENS: i8 = 13;
    /// Describe delegation tokens.
    pub const DESCRIBE_TOKENS: i8 = 14;
    /// Two-phase commit (KIP-939).
    pub const TWO_PHASE_COMMIT: i8 = 15;
}

/// Kafka's `AclPermissionType` codes.
pub mod permission {
    /// Matches any permission, in filters only.
    pub const ANY: i8 = 1;
    /// Deny.
    pub const DENY: i8 = 2;
    /// Allow.
    pub const ALLOW: i8 = 3;
}

/// One ACL: a resource pattern and an access control entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Archive, Serialize, Deserialize)]
#[rkyv(derive(Debug, PartialEq, Eq, PartialOrd, Ord))]
pub struct AclBinding {
    /// [`resource_type`] code.
    pub resource_type: i8,
    /// Resource name; `*` with LITERAL is every resource of the type.
    pub resource_name: String,
    /// [`pattern_type`] code: LITERAL or PREFIXED.
    pub pattern_type: i8,
    /// `User:alice`, or `User:*` for everyone.
    pub principal: String,
    /// Client host, or `*`.
    pub host: String,
    /// [`operation`] code.
    pub operation: i8,
    /// [`permission`] code: ALLOW or DENY.
    pub permission: i8,
}

/// The literal resource name that stands for every resource.
pub const WILDCARD: &str = "*";

impl AclBinding {
    /// Why this binding cannot be stored, as Kafka refuses CreateAcls entries.
    pub fn check(&self) -> Result<(), String> {
        if !(resource_type::TOPIC..=resource_type::USER).contains(&self.resource_type) {
            return Err(format!("invalid resource type {}", self.resource_type));
        }
        if !matches!(
            self.pattern_type,
            pattern_type::LITERAL | pattern_type::PREFIXED
        ) {
            return Err(format!("invalid pattern type {}", self.pattern_type));
        }
        if !(operation::ALL..=operation::TWO_PHASE_COMMIT).contains(&self.operation) {
            return Err(format!("invalid operation {}", self.operation));
        }
        if !matches!(self.permission, permission::ALLOW | permission::DENY) {
            return Err(format!("invalid permission type {}", self.permission));
        }
        if self.resource_name.is_empty() {
            return Err("resource name must not be empty".into());
        }
        if self.resource_type == resource_type::CLUSTER && self.resource_name != "kafka-cluster" {
            return Err("the only valid name for the CLUSTER resource is kafka-cluster".into());
        }
        match self.principal.split_once(':') {
            Some((kind, name)) if !kind.is_empty() && !name.is_empty() => {}
            _ => return Err(format!("invalid principal {:?}", self.principal)),
        }
        if self.host.is_empty() {
            return Err("host must not be empty".into());
        }
        Ok(())
    }
}

/// A DescribeAcls or DeleteAcls filter: `None` fields match anything.
#[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct AclFilter {
    /// [`resource_type`] code; ANY matches every type.
    pub resource_type: i8,
    /// Resource name, or `None` for any.
    pub resource_name: Option<String>,
    /// [`pattern_type`] code: ANY, MATCH, LITERAL or PREFIXED.
    pub pattern_type: i8,
    /// Principal, or `None` for any.
    pub principal: Option<String>,
    /// Host, or `None` for any.
    pub host: Option<String>,
    /// [`operation`] code; ANY matches every operation.
    pub operation: i8,
    /// [`permission`] code; ANY matches both.
    pub permission: i8,
}

impl AclFilter {
    /// Whether `b` is one of the bindings this filter selects (Kafka's `AclBindingFilter`
    /// matching, MATCH included).
    pub fn matches(&self, b: &AclBinding) -> bool {
        let any_or = |f: i8, any: i8, v: i8| f == any || f == v;
        if !any_or(self.resource_type, resource_type::ANY, b.resource_type)
            || !any_or(self.operation, operation::ANY, b.operation)
            || !any_or(self.permission, permission::ANY, b.permission)
        {
            return false;
        }
        if self.principal.as_ref().is_some_and(|p| *p != b.principal)
            || self.host.as_ref().is_some_and(|h| *h != b.host)
        {
            return false;
        }
        match self.pattern_type {
            pattern_type::MATCH => match &self.resource_name {
                None => true,
                Some(name) => match b.pattern_type {
                    pattern_type::LITERAL => {
                        b.resource_name == *name || b.resource_name == WILDCARD
                    }
                    pattern_type::PREFIXED => name.starts_with(&b.resource_name),
                    _ => false,
                },
            },
            p => {
                (p == pattern_type::ANY || p == b.pattern_type)
                    && self
                        .resource_name
                        .as_ref()
                        .is_none_or(|n| *n == b.resource_name)
            }
        }
    }

    /// Why this filter is not one Kafka accepts.
    pub fn check(&self) -> Result<(), String> {
        if !(resource_type::ANY..=resource_type::USER).contains(&self.resource_type) {
            return Err(format!("invalid resource type {}", self.resource_type));
        }
        if !(pattern_type::ANY..=pattern_type::PREFIXED).contains(&self.pattern_type) {
            return Err(format!("invalid pattern type {}", self.pattern_type));
        }
        if !(operation::ANY..=operation::TWO_PHASE_COMMIT).contains(&self.operation) {
            return Err(format!("invalid operation {}", self.operation));
        }
        if !(permission::ANY..=permission::ALLOW).contains(&self.permission) {
            return Err(format!("invalid permission type {}", self.permission));
        }
        Ok(())
    }
}

/// A client-quota entity: sorted (entity type, name) parts; a `None` name is the default
/// entity of that type (`user` default, `client-id` default).
pub type QuotaEntity = Vec<(String, Option<String>)>;

/// One entity's quota changes: (key, `f64` bits to set, or `None` to remove).
pub type QuotaChanges = Vec<(String, Option<u64>)>;

/// The quota keys Kafka defines for clients.
pub const QUOTA_KEYS: &[&str] = &[
    "producer_byte_rate",
    "consumer_byte_rate",
    "request_percentage",
    "controller_mutation_rate",
    "connection_creation_rate",
];

pub use record_kinds::SecurityRecord;

// rkyv derives a resolver enum whose fields carry no docs; the allow covers only it.
#[allow(missing_docs)]
mod record_kinds {
    use super::*;

    /// A change to credentials, ACLs or quotas.
    #[derive(Debug, Clone, PartialEq, Eq, Archive, Serialize, Deserialize)]
    #[rkyv(attr(allow(missing_docs)))]
    pub enum SecurityRecord {
        /// A user's credential for one mechanism is set (replacing any earlier one).
        SetScramCredential {
            /// The user name.
            user: String,
            /// [`scram_mechanism`] code.
            mechanism: u8,
            /// The salted credential.
            credential: ScramCredential,
        },
        /// A user's credential for one mechanism is removed.
        RemoveScramCredential {
            /// The user name.
            user: String,
            /// [`scram_mechanism`] code.
            mechanism: u8,
        },
        /// An ACL is added.
        CreateAcl(AclBinding),
        /// An ACL is removed.
        RemoveAcl(AclBinding),
        /// A client quota is set (`Some(f64 bits)`) or removed.
        SetClientQuota {
            /// The entity.
            entity: QuotaEntity,
            /// The quota key.
            key: String,
            /// `f64::to_bits` of the value, or `None` to remove.
            value: Option<u64>,
        },
    }
}

/// The security part of the metadata image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Archive, Serialize, Deserialize)]
pub struct SecurityState {
    /// Credentials by user, then mechanism code.
    pub scram: BTreeMap<String, BTreeMap<u8, ScramCredential>>,
    /// Every ACL.
    pub acls: std::collections::BTreeSet<AclBinding>,
    /// Quota values (as `f64` bits) by entity, then key.
    pub quotas: BTreeMap<QuotaEntity, BTreeMap<String, u64>>,
}

impl SecurityState {
    /// Applies one record. Deterministic; removing what is absent is a no-op.
    pub fn apply(&mut self, record: &SecurityRecord) -> Result<(), String> {
        match record {
            SecurityRecord::SetScramCredential {
                user,
                mechanism,
                credential,
            } => {
                if scram_mechanism::name(*mechanism).is_none() {
                    return Err(format!("unknown SCRAM mechanism {mechanism}"));
                }
                if user.is_empty() {
                    return Err("empty user name".into());
                }
                self.scram
                    .entry(user.clone())
                    .or_default()
                    .insert(*mechanism, credential.clone());
            }
            SecurityRecord::RemoveScramCredential { user, mechanism } => {
                if let Some(m) = self.scram.get_mut(user) {
                    m.remove(mechanism);
                    if m.is_empty() {
                        self.scram.remove(user);
                    }
                }
            }
            SecurityRecord::CreateAcl(b) => {
                b.check()?;
                self.acls.insert(b.clone());
            }
            SecurityRecord::RemoveAcl(b) => {
                self.acls.remove(b);
            }
            SecurityRecord::SetClientQuota { entity, key, value } => {
                if !QUOTA_KEYS.contains(&key.as_str()) {
                    return Err(format!("unknown quota key {key}"));
                }
                match value {
                    Some(v) => {
                        self.quotas
                            .entry(entity.clone())
                            .or_default()
                            .insert(key.clone(), *v);
                    }
                    None => {
                        if let Some(m) = self.quotas.get_mut(entity) {
                            m.remove(key);
                            if m.is_empty() {
                                self.quotas.remove(entity);
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(name: &str, pattern: i8) -> AclBinding {
        AclBinding {
            resource_type: resource_type::TOPIC,
            resource_name: name.into(),
            pattern_type: pattern,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: operation::READ,
            permission: permission::ALLOW,
        }
    }

    fn filter(name: Option<&str>, pattern: i8) -> AclFilter {
        AclFilter {
            resource_type: resource_type::ANY,
            resource_name: name.map(String::from),
            pattern_type: pattern,
            principal: None,
            host: None,
            operation: operation::ANY,
            permission: permission::ANY,
        }
    }

    #[test]
    fn filters_match_as_kafka_describes() {
        let lit = binding("payments", pattern_type::LITERAL);
        let star = binding("*", pattern_type::LITERAL);
        let pre = binding("pay", pattern_type::PREFIXED);
        let m = filter(Some("payments"), pattern_type::MATCH);
        assert!(m.matches(&lit) && m.matches(&star) && m.matches(&pre));
        let other = filter(Some("orders"), pattern_type::MATCH);
        assert!(!other.matches(&lit) && other.matches(&star) && !other.matches(&pre));
        let exact = filter(Some("pay"), pattern_type::LITERAL);
        assert!(!exact.matches(&pre) && !exact.matches(&lit));
        let any = filter(Some("pay"), pattern_type::ANY);
        assert!(any.matches(&pre));
        assert!(filter(None, pattern_type::ANY).matches(&lit));
        let mut deny_only = filter(None, pattern_type::ANY);
        deny_only.permission = permission::DENY;
        assert!(!deny_only.matches(&lit));
    }

    #[test]
    fn bad_bindings_are_refused() {
        assert!(binding("t", pattern_type::LITERAL).check().is_ok());
        assert!(binding("t", pattern_type::MATCH).check().is_err());
        let mut b = binding("t", pattern_type::LITERAL);
        b.principal = "alice".into();
        assert!(b.check().is_err());
        let mut c = binding("other", pattern_type::LITERAL);
        c.resource_type = resource_type::CLUSTER;
        assert!(c.check().is_err());
        let mut s = SecurityState::default();
        assert!(s.apply(&SecurityRecord::CreateAcl(b)).is_err());
        assert!(s.acls.is_empty());
    }
}
