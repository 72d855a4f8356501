//! The authorizer: Kafka's `StandardAuthorizer` semantics over the ACLs of the metadata
//! image, as a pure function of (settings, ACL set, principal, host, resource, operation).
//!
//! The rules, each as Kafka has them:
//!
//! * A super user (`super.users`) is allowed everything, DENY ACLs included.
//! * An ACL applies to a resource when its type matches and its pattern does: LITERAL with
//!   the same name or the `*` wildcard name, or PREFIXED with a prefix of the name.
//! * It applies to a request when its principal is the request's or `User:*`, and its host
//!   is the client's or `*`.
//! * A DENY that applies for the operation (or for ALL) wins over any ALLOW.
//! * An ALLOW applies for its operation, ALL, and the operations those imply: READ, WRITE,
//!   DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS.
//! * When no ACL at all applies to the resource (for anyone), the answer is
//!   `allow.everyone.if.no.acl.found`; when some do but none allows, it is a denial.
//!
//! No state lives here: every check reads the ACL set of the image the shard holds, so an
//! ACL change applies to each shard with the metadata image that carries it.

use crate::server::Ctx;
use myelin_replication::cluster::security::{
    operation, pattern_type, permission, resource_type, AclBinding, WILDCARD,
};
use std::collections::BTreeSet;

/// The authorizer class Myelin implements, under Kafka's name.
pub const STANDARD_AUTHORIZER: &str = "org.apache.kafka.metadata.authorizer.StandardAuthorizer";

/// The principal that stands for every principal in an ACL.
pub const WILDCARD_PRINCIPAL: &str = "User:*";

/// The name of the one CLUSTER resource.
pub const CLUSTER_NAME: &str = "kafka-cluster";

/// "Authorized operations not requested", as Kafka answers that field.
pub const OPERATIONS_OMITTED: i32 = i32::MIN;

/// The authorizer settings (`authorizer.class.name`, `super.users`,
/// `allow.everyone.if.no.acl.found`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizerConfig {
    /// Whether an authorizer is configured at all; without one every request is allowed
    /// and the ACL APIs answer SECURITY_DISABLED.
    pub enabled: bool,
    /// Principals allowed everything (`User:admin`).
    pub super_users: Vec<String>,
    /// The answer for a resource no ACL applies to.
    pub allow_everyone_if_no_acl_found: bool,
}

/// Who asks: the principal and the client's host.
#[derive(Debug, Clone, Copy)]
pub struct Requester<'a> {
    /// `User:alice`.
    pub principal: &'a str,
    /// `127.0.0.1`.
    pub host: &'a str,
}

/// The operations each resource type supports, in Kafka's order; the bits of an
/// "authorized operations" field.
pub fn supported_operations(resource: i8) -> &'static [i8] {
    use operation::*;
    match resource {
        resource_type::TOPIC => &[
            READ,
            WRITE,
            CREATE,
            DESCRIBE,
            DELETE,
            ALTER,
            DESCRIBE_CONFIGS,
            ALTER_CONFIGS,
        ],
        resource_type::GROUP => &[READ, DESCRIBE, DELETE],
        resource_type::CLUSTER => &[
            CREATE,
            CLUSTER_ACTION,
            DESCRIBE_CONFIGS,
            ALTER_CONFIGS,
            IDEMPOTENT_WRITE,
            ALTER,
            DESCRIBE,
        ],
        resource_type::TRANSACTIONAL_ID => &[DESCRIBE, WRITE, TWO_PHASE_COMMIT],
        resource_type::DELEGATION_TOKEN => &[DESCRIBE],
        resource_type::USER => &[CREATE_TOKENS, DESCRIBE_TOKENS],
        _ => &[],
    }
}

/// Whether `acl`'s resource pattern covers the resource `(kind, name)`.
fn pattern_covers(acl: &AclBinding, kind: i8, name: &str) -> bool {
    acl.resource_type == kind
        && match acl.pattern_type {
            pattern_type::LITERAL => acl.resource_name == name || acl.resource_name == WILDCARD,
            pattern_type::PREFIXED => name.starts_with(acl.resource_name.as_str()),
            _ => false,
        }
}

/// Whether `acl` is about this requester.
fn applies_to(acl: &AclBinding, who: Requester<'_>) -> bool {
    (acl.principal == who.principal || acl.principal == WILDCARD_PRINCIPAL)
        && (acl.host == who.host || acl.host == WILDCARD)
}

/// Whether an ALLOW for `granted` allows `asked`.
fn allow_covers(granted: i8, asked: i8) -> bool {
    use operation::*;
    granted == ALL
        || granted == asked
        || (asked == DESCRIBE && matches!(granted, READ | WRITE | DELETE | ALTER))
        || (asked == DESCRIBE_CONFIGS && granted == ALTER_CONFIGS)
}

/// Whether a DENY for `denied` denies `asked`: only the operation itself or ALL (a DENY of
/// READ leaves DESCRIBE alone, as in Kafka).
fn deny_covers(denied: i8, asked: i8) -> bool {
    denied == operation::ALL || denied == asked
}

impl AuthorizerConfig {
    /// Whether `who` is a super user.
    pub fn is_super_user(&self, who: Requester<'_>) -> bool {
        self.super_users.iter().any(|u| u == who.principal)
    }

    /// Whether `who` may perform `op` on the resource `(kind, name)` under `acls`.
    pub fn authorize(
        &self,
        acls: &BTreeSet<AclBinding>,
        who: Requester<'_>,
        kind: i8,
        name: &str,
        op: i8,
    ) -> bool {
        if !self.enabled || self.is_super_user(who) {
            return true;
        }
        let mut any_on_resource = false;
        let mut allowed = false;
        for acl in acls.iter().filter(|a| pattern_covers(a, kind, name)) {
            any_on_resource = true;
            if !applies_to(acl, who) {
                continue;
            }
            match acl.permission {
                permission::DENY if deny_covers(acl.operation, op) => return false,
                permission::ALLOW if allow_covers(acl.operation, op) => allowed = true,
                _ => {}
            }
        }
        allowed || (!any_on_resource && self.allow_everyone_if_no_acl_found)
    }

    /// Whether `who` may perform `op` on some resource of type `kind` (Kafka's
    /// `authorizeByResourceType`, which InitProducerId uses for idempotent producers that
    /// may write to some topic): allowed on a name no ACL names, or an ALLOW pattern that no
    /// DENY pattern covers.
    pub fn authorize_any(
        &self,
        acls: &BTreeSet<AclBinding>,
        who: Requester<'_>,
        kind: i8,
        op: i8,
    ) -> bool {
        // A name no ACL names literally: only wildcard and prefix ACLs can reach it, and the
        // no-ACL rule applies when none does (Kafka asks for a hard-coded name first).
        if self.authorize(acls, who, kind, "hardcode", op) {
            return true;
        }
        let relevant: Vec<&AclBinding> = acls
            .iter()
            .filter(|a| a.resource_type == kind && applies_to(a, who))
            .collect();
        let denies: Vec<&&AclBinding> = relevant
            .iter()
            .filter(|a| a.permission == permission::DENY && deny_covers(a.operation, op))
            .collect();
        let denied = |allow: &AclBinding| {
            denies.iter().any(|d| match d.pattern_type {
                pattern_type::LITERAL if d.resource_name == WILDCARD => true,
                pattern_type::LITERAL => {
                    allow.pattern_type == pattern_type::LITERAL
                        && allow.resource_name == d.resource_name
                }
                pattern_type::PREFIXED => allow.resource_name.starts_with(&d.resource_name),
                _ => false,
            })
        };
        relevant.iter().any(|a| {
            a.permission == permission::ALLOW && allow_covers(a.operation, op) && !denied(a)
        })
    }

    /// The "authorized operations" bitset of a resource: bit `op` set for each operation
    /// the resource type supports that `who` may perform.
    pub fn operations(
        &self,
        acls: &BTreeSet<AclBinding>,
        who: Requester<'_>,
        kind: i8,
        name: &str,
    ) -> i32 {
        supported_operations(kind)
            .iter()
            .filter(|op| self.authorize(acls, who, kind, name, **op))
            .fold(0, |bits, op| bits | (1 << op))
    }
}

impl Ctx {
    /// Whether this connection may perform `op` on the resource `(kind, name)`.
    pub fn authorized(&self, kind: i8, name: &str, op: i8) -> bool {
        let config = &self.server.authorizer;
        if !config.enabled {
            return true;
        }
        let image = self.shard.metadata();
        self.identity.with_principal(|principal| {
            let who = Requester {
                principal,
                host: self.host(),
            };
            config.authorize(&image.security().acls, who, kind, name, op)
        })
    }

    /// Whether this connection may perform `op` on the cluster.
    pub fn cluster_authorized(&self, op: i8) -> bool {
        self.authorized(resource_type::CLUSTER, CLUSTER_NAME, op)
    }

    /// Whether this connection may perform `op` on some resource of type `kind`.
    pub fn authorized_any(&self, kind: i8, op: i8) -> bool {
        let config = &self.server.authorizer;
        if !config.enabled {
            return true;
        }
        let image = self.shard.metadata();
        self.identity.with_principal(|principal| {
            let who = Requester {
                principal,
                host: self.host(),
            };
            config.authorize_any(&image.security().acls, who, kind, op)
        })
    }

    /// The authorized-operations bitset of a resource, or [`OPERATIONS_OMITTED`] when the
    /// client did not ask for it.
    pub fn authorized_operations(&self, requested: bool, kind: i8, name: &str) -> i32 {
        if !requested {
            return OPERATIONS_OMITTED;
        }
        let image = self.shard.metadata();
        self.identity.with_principal(|principal| {
            let who = Requester {
                principal,
                host: self.host(),
            };
            self.server
                .authorizer
                .operations(&image.security().acls, who, kind, name)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use operation::*;
    use resource_type::{CLUSTER, GROUP, TOPIC, TRANSACTIONAL_ID};

    const ALICE: Requester<'static> = Requester {
        principal: "User:alice",
        host: "10.0.0.1",
    };
    const BOB: Requester<'static> = Requester {
        principal: "User:bob",
        host: "10.0.0.2",
    };

    fn on() -> AuthorizerConfig {
        AuthorizerConfig {
            enabled: true,
            super_users: vec!["User:admin".into()],
            allow_everyone_if_no_acl_found: false,
        }
    }

    fn acl(kind: i8, name: &str, pattern: i8, who: &str, op: i8, perm: i8) -> AclBinding {
        AclBinding {
            resource_type: kind,
            resource_name: name.into(),
            pattern_type: pattern,
            principal: who.into(),
            host: "*".into(),
            operation: op,
            permission: perm,
        }
    }

    fn allow(name: &str, who: &str, op: i8) -> AclBinding {
        acl(
            TOPIC,
            name,
            pattern_type::LITERAL,
            who,
            op,
            permission::ALLOW,
        )
    }

    fn deny(name: &str, who: &str, op: i8) -> AclBinding {
        acl(
            TOPIC,
            name,
            pattern_type::LITERAL,
            who,
            op,
            permission::DENY,
        )
    }

    fn set(acls: &[AclBinding]) -> BTreeSet<AclBinding> {
        acls.iter().cloned().collect()
    }

    #[test]
    fn without_an_authorizer_everything_is_allowed() {
        let c = AuthorizerConfig::default();
        let acls = set(&[deny("t", "User:alice", ALL)]);
        assert!(c.authorize(&acls, ALICE, TOPIC, "t", WRITE));
    }

    #[test]
    fn no_acl_found_follows_the_setting() {
        let mut c = on();
        let none = BTreeSet::new();
        assert!(!c.authorize(&none, ALICE, TOPIC, "t", READ));
        c.allow_everyone_if_no_acl_found = true;
        assert!(c.authorize(&none, ALICE, TOPIC, "t", READ));
        // An ACL for someone else on the resource makes it "found": alice is denied.
        let bobs = set(&[allow("t", "User:bob", READ)]);
        assert!(!c.authorize(&bobs, ALICE, TOPIC, "t", READ));
        assert!(c.authorize(&bobs, BOB, TOPIC, "t", READ));
        // An ACL on another resource does not.
        assert!(c.authorize(&bobs, ALICE, TOPIC, "u", READ));
    }

    #[test]
    fn super_users_pass_even_a_deny() {
        let c = on();
        let acls = set(&[deny("*", "User:*", ALL)]);
        let admin = Requester {
            principal: "User:admin",
            host: "1.2.3.4",
        };
        assert!(c.authorize(&acls, admin, TOPIC, "t", DELETE));
        assert!(c.authorize(&BTreeSet::new(), admin, CLUSTER, CLUSTER_NAME, ALTER));
        assert!(!c.authorize(&acls, ALICE, TOPIC, "t", DELETE));
    }

    #[test]
    fn deny_beats_allow() {
        let c = on();
        let acls = set(&[allow("t", "User:alice", WRITE), deny("t", "User:*", WRITE)]);
        assert!(!c.authorize(&acls, ALICE, TOPIC, "t", WRITE));
        // The DENY is for WRITE only: DESCRIBE stays implied by the ALLOW.
        assert!(c.authorize(&acls, ALICE, TOPIC, "t", DESCRIBE));
        let all = set(&[allow("t", "User:alice", ALL), deny("t", "User:alice", ALL)]);
        assert!(!c.authorize(&all, ALICE, TOPIC, "t", READ));
    }

    #[test]
    fn a_deny_of_read_does_not_deny_describe() {
        let c = on();
        let acls = set(&[allow("t", "User:alice", ALL), deny("t", "User:alice", READ)]);
        assert!(!c.authorize(&acls, ALICE, TOPIC, "t", READ));
        assert!(c.authorize(&acls, ALICE, TOPIC, "t", DESCRIBE));
        assert!(c.authorize(&acls, ALICE, TOPIC, "t", WRITE));
    }

    #[test]
    fn patterns_literal_wildcard_and_prefixed() {
        let c = on();
        let lit = set(&[allow("orders", "User:alice", READ)]);
        assert!(c.authorize(&lit, ALICE, TOPIC, "orders", READ));
        assert!(!c.authorize(&lit, ALICE, TOPIC, "orders2", READ));
        let wild = set(&[allow("*", "User:alice", READ)]);
        assert!(c.authorize(&wild, ALICE, TOPIC, "anything", READ));
        assert!(!c.authorize(&wild, ALICE, GROUP, "anything", READ));
        let pre = set(&[acl(
            TOPIC,
            "pay",
            pattern_type::PREFIXED,
            "User:alice",
            WRITE,
            permission::ALLOW,
        )]);
        assert!(c.authorize(&pre, ALICE, TOPIC, "payments", WRITE));
        assert!(c.authorize(&pre, ALICE, TOPIC, "pay", WRITE));
        assert!(!c.authorize(&pre, ALICE, TOPIC, "repay", WRITE));
        // A `*` PREFIXED pattern is a prefix like any other, not the wildcard.
        let star = set(&[acl(
            TOPIC,
            "*",
            pattern_type::PREFIXED,
            "User:alice",
            READ,
            permission::ALLOW,
        )]);
        assert!(!c.authorize(&star, ALICE, TOPIC, "t", READ));
        // A prefixed DENY beats a literal ALLOW.
        let mixed = set(&[
            allow("payments", "User:alice", WRITE),
            acl(
                TOPIC,
                "pay",
                pattern_type::PREFIXED,
                "User:*",
                WRITE,
                permission::DENY,
            ),
        ]);
        assert!(!c.authorize(&mixed, ALICE, TOPIC, "payments", WRITE));
    }

    #[test]
    fn principal_wildcard_and_hosts() {
        let c = on();
        let everyone = set(&[allow("t", "User:*", READ)]);
        assert!(c.authorize(&everyone, ALICE, TOPIC, "t", READ));
        assert!(c.authorize(&everyone, BOB, TOPIC, "t", READ));
        let mut from_host = allow("t", "User:alice", READ);
        from_host.host = "10.0.0.1".into();
        let hosts = set(&[from_host]);
        assert!(c.authorize(&hosts, ALICE, TOPIC, "t", READ));
        let elsewhere = Requester {
            host: "10.9.9.9",
            ..ALICE
        };
        assert!(!c.authorize(&hosts, elsewhere, TOPIC, "t", READ));
    }

    #[test]
    fn implied_operations() {
        let c = on();
        for granted in [READ, WRITE, DELETE, ALTER] {
            let acls = set(&[allow("t", "User:alice", granted)]);
            assert!(c.authorize(&acls, ALICE, TOPIC, "t", DESCRIBE), "{granted}");
            assert!(!c.authorize(&acls, ALICE, TOPIC, "t", DESCRIBE_CONFIGS));
        }
        let configs = set(&[allow("t", "User:alice", ALTER_CONFIGS)]);
        assert!(c.authorize(&configs, ALICE, TOPIC, "t", DESCRIBE_CONFIGS));
        assert!(!c.authorize(&configs, ALICE, TOPIC, "t", DESCRIBE));
        let describe = set(&[allow("t", "User:alice", DESCRIBE)]);
        assert!(!c.authorize(&describe, ALICE, TOPIC, "t", READ));
        let all = set(&[allow("t", "User:alice", ALL)]);
        for op in supported_operations(TOPIC) {
            assert!(c.authorize(&all, ALICE, TOPIC, "t", *op));
        }
    }

    #[test]
    fn operation_bitsets() {
        let c = on();
        let acls = set(&[allow("t", "User:alice", READ)]);
        assert_eq!(
            c.operations(&acls, ALICE, TOPIC, "t"),
            (1 << READ) | (1 << DESCRIBE)
        );
        assert_eq!(c.operations(&acls, BOB, TOPIC, "t"), 0);
        let off = AuthorizerConfig::default();
        let cluster_all = (1 << CREATE)
            | (1 << ALTER)
            | (1 << DESCRIBE)
            | (1 << CLUSTER_ACTION)
            | (1 << DESCRIBE_CONFIGS)
            | (1 << ALTER_CONFIGS)
            | (1 << IDEMPOTENT_WRITE);
        assert_eq!(
            off.operations(&BTreeSet::new(), ALICE, CLUSTER, CLUSTER_NAME),
            cluster_all
        );
    }

    #[test]
    fn by_resource_type() {
        let c = on();
        assert!(!c.authorize_any(&BTreeSet::new(), ALICE, TOPIC, WRITE));
        let some = set(&[allow("t", "User:alice", WRITE)]);
        assert!(c.authorize_any(&some, ALICE, TOPIC, WRITE));
        assert!(!c.authorize_any(&some, BOB, TOPIC, WRITE));
        let denied = set(&[
            allow("t", "User:alice", WRITE),
            deny("*", "User:alice", WRITE),
        ]);
        assert!(!c.authorize_any(&denied, ALICE, TOPIC, WRITE));
        let prefix_denied = set(&[
            allow("payments", "User:alice", WRITE),
            acl(
                TOPIC,
                "pay",
                pattern_type::PREFIXED,
                "User:alice",
                WRITE,
                permission::DENY,
            ),
        ]);
        assert!(!c.authorize_any(&prefix_denied, ALICE, TOPIC, WRITE));
        let txn = set(&[acl(
            TRANSACTIONAL_ID,
            "app-",
            pattern_type::PREFIXED,
            "User:alice",
            WRITE,
            permission::ALLOW,
        )]);
        assert!(c.authorize_any(&txn, ALICE, TRANSACTIONAL_ID, WRITE));
        assert!(!c.authorize_any(&txn, ALICE, TOPIC, WRITE));
    }
}
