//! The controller's decisions on credentials, ACLs and client quotas: each checks the
//! request against the committed image and proposes the records that carry it out.

use super::Decision;
use crate::cluster::image::MetadataImage;
use crate::cluster::records::MetadataRecord;
use crate::cluster::security::{
    scram_mechanism, AclBinding, AclFilter, QuotaChanges, QuotaEntity, ScramCredential,
    SecurityRecord, QUOTA_KEYS, SCRAM_ITERATIONS,
};
use crate::controller::request::ControllerResponse;
use crate::error::ControllerError;
use std::collections::BTreeSet;

/// Most ACLs a cluster holds; the authorizer scans them per request.
pub const ACLS_MAX: usize = 100_000;

/// AlterUserScramCredentials: per user, every deletion and upsertion must check out, or none
/// of that user's changes apply (Kafka's per-user result).
pub fn alter_scram(
    image: &MetadataImage,
    deletions: &[(String, u8)],
    upsertions: &[(String, u8, ScramCredential)],
) -> Decision {
    let mut users: Vec<String> = Vec::new();
    for u in deletions
        .iter()
        .map(|(u, _)| u)
        .chain(upsertions.iter().map(|(u, _, _)| u))
    {
        if !users.contains(u) {
            users.push(u.clone());
        }
    }
    let mut records = Vec::new();
    let mut results = Vec::new();
    for user in users {
        let dels: Vec<u8> = deletions
            .iter()
            .filter(|(u, _)| *u == user)
            .map(|(_, m)| *m)
            .collect();
        let ups: Vec<(u8, &ScramCredential)> = upsertions
            .iter()
            .filter(|(u, _, _)| *u == user)
            .map(|(_, m, c)| (*m, c))
            .collect();
        let check = || -> Result<Vec<MetadataRecord>, ControllerError> {
            if user.is_empty() {
                return Err(ControllerError::UnacceptableCredential(
                    "username must not be empty".into(),
                ));
            }
            // As Kafka: one change per user and request, whatever the mechanisms.
            if dels.len() + ups.len() > 1 {
                return Err(ControllerError::DuplicateResource(
                    "A user credential cannot be altered twice in the same request".into(),
                ));
            }
            for m in dels.iter().chain(ups.iter().map(|(m, _)| m)) {
                if scram_mechanism::name(*m).is_none() {
                    return Err(ControllerError::UnsupportedSaslMechanism(format!(
                        "Unknown SCRAM mechanism {m}"
                    )));
                }
            }
            let existing = image.security().scram.get(&user);
            let mut out = Vec::new();
            for m in &dels {
                if !existing.is_some_and(|e| e.contains_key(m)) {
                    return Err(ControllerError::ResourceNotFound(format!(
                        "attempt to delete a user credential that does not exist: {user}"
                    )));
                }
                out.push(MetadataRecord::Security(
                    SecurityRecord::RemoveScramCredential {
                        user: user.clone(),
                        mechanism: *m,
                    },
                ));
            }
            for (m, c) in &ups {
                if !SCRAM_ITERATIONS.contains(&c.iterations) {
                    return Err(ControllerError::UnacceptableCredential(format!(
                        "iterations {} outside {}..={}",
                        c.iterations,
                        SCRAM_ITERATIONS.start(),
                        SCRAM_ITERATIONS.end()
                    )));
                }
                if c.salt.is_empty() || c.stored_key.is_empty() || c.server_key.is_empty() {
                    return Err(ControllerError::UnacceptableCredential(
                        "salt and salted password must not be empty".into(),
                    ));
                }
                out.push(MetadataRecord::Security(
                    SecurityRecord::SetScramCredential {
                        user: user.clone(),
                        mechanism: *m,
                        credential: (*c).clone(),
                    },
                ));
            }
            Ok(out)
        };
        match check() {
            Ok(r) => {
                records.extend(r);
                results.push((user, Ok(())));
            }
            Err(e) => results.push((user, Err(e))),
        }
    }
    Decision {
        records,
        response: ControllerResponse::AlterScramCredentials(results),
    }
}

/// CreateAcls: each binding is checked on its own; one already present succeeds unchanged.
pub fn create_acls(image: &MetadataImage, acls: &[AclBinding]) -> Decision {
    let mut records = Vec::new();
    let mut results = Vec::new();
    let mut count = image.security().acls.len();
    for b in acls {
        let result = match b.check() {
            Err(m) => Err(ControllerError::InvalidRequest(m)),
            Ok(()) if image.security().acls.contains(b) => Ok(()),
            Ok(()) if count >= ACLS_MAX => Err(ControllerError::InvalidRequest(format!(
                "the cluster holds {ACLS_MAX} ACLs"
            ))),
            Ok(()) => {
                count += 1;
                records.push(MetadataRecord::Security(SecurityRecord::CreateAcl(
                    b.clone(),
                )));
                Ok(())
            }
        };
        results.push(result);
    }
    Decision {
        records,
        response: ControllerResponse::CreateAcls(results),
    }
}

/// DeleteAcls: each filter removes every committed binding it matches; a binding matched by
/// two filters is removed once and reported by both, as Kafka does.
pub fn delete_acls(image: &MetadataImage, filters: &[AclFilter]) -> Decision {
    let mut removed = BTreeSet::new();
    let mut results = Vec::new();
    for f in filters {
        match f.check() {
            Err(m) => results.push(Err(ControllerError::InvalidRequest(m))),
            Ok(()) => {
                let matched: Vec<AclBinding> = image
                    .security()
                    .acls
                    .iter()
                    .filter(|b| f.matches(b))
                    .cloned()
                    .collect();
                removed.extend(matched.iter().cloned());
                results.push(Ok(matched));
            }
        }
    }
    Decision {
        records: removed
            .into_iter()
            .map(|b| MetadataRecord::Security(SecurityRecord::RemoveAcl(b)))
            .collect(),
        response: ControllerResponse::DeleteAcls(results),
    }
}

/// The entity types a client-quota entity may name.
const QUOTA_ENTITY_TYPES: &[&str] = &["user", "client-id", "ip"];

/// AlterClientQuotas: per entity, every key must be known and every value positive.
pub fn alter_quotas(entries: &[(QuotaEntity, QuotaChanges)], validate_only: bool) -> Decision {
    let mut records = Vec::new();
    let mut results = Vec::new();
    for (entity, ops) in entries {
        let check = || -> Result<Vec<MetadataRecord>, ControllerError> {
            let mut types = BTreeSet::new();
            for (t, _) in entity {
                if !QUOTA_ENTITY_TYPES.contains(&t.as_str()) {
                    return Err(ControllerError::InvalidRequest(format!(
                        "unknown entity type {t}"
                    )));
                }
                if !types.insert(t.as_str()) {
                    return Err(ControllerError::InvalidRequest(format!(
                        "entity type {t} given twice"
                    )));
                }
            }
            if entity.is_empty() || (types.contains("ip") && types.len() > 1) {
                return Err(ControllerError::InvalidRequest(
                    "invalid quota entity".into(),
                ));
            }
            let mut keys = BTreeSet::new();
            let mut out = Vec::new();
            for (key, value) in ops {
                if !QUOTA_KEYS.contains(&key.as_str()) {
                    return Err(ControllerError::InvalidRequest(format!(
                        "unknown quota key {key}"
                    )));
                }
                if !keys.insert(key.as_str()) {
                    return Err(ControllerError::InvalidRequest(format!(
                        "quota key {key} given twice"
                    )));
                }
                if let Some(bits) = value {
                    let v = f64::from_bits(*bits);
                    if !(v.is_finite() && v > 0.0) {
                        return Err(ControllerError::InvalidRequest(format!(
                            "quota {key} must be positive, not {v}"
                        )));
                    }
                }
                let mut sorted = entity.clone();
                sorted.sort();
                out.push(MetadataRecord::Security(SecurityRecord::SetClientQuota {
                    entity: sorted,
                    key: key.clone(),
                    value: *value,
                }));
            }
            Ok(out)
        };
        match check() {
            Ok(r) => {
                if !validate_only {
                    records.extend(r);
                }
                results.push(Ok(()));
            }
            Err(e) => results.push(Err(e)),
        }
    }
    Decision {
        records,
        response: ControllerResponse::AlterClientQuotas(results),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::security::{operation, pattern_type, permission, resource_type};

    fn cred(iterations: i32) -> ScramCredential {
        ScramCredential {
            salt: vec![1; 16],
            iterations,
            stored_key: vec![2; 32],
            server_key: vec![3; 32],
        }
    }

    fn apply(image: &mut MetadataImage, d: &Decision) {
        let next = image.last_applied() + 1;
        for r in &d.records {
            image.apply(next, r).unwrap();
        }
    }

    #[test]
    fn scram_results_are_per_user_and_all_or_nothing() {
        let mut image = MetadataImage::new();
        let d = alter_scram(
            &image,
            &[("bob".into(), scram_mechanism::SHA_256)],
            &[
                ("alice".into(), scram_mechanism::SHA_256, cred(4096)),
                ("carol".into(), scram_mechanism::SHA_512, cred(10)),
                ("dave".into(), 9, cred(4096)),
            ],
        );
        let ControllerResponse::AlterScramCredentials(r) = &d.response else {
            panic!("{:?}", d.response)
        };
        assert!(matches!(r[0], (ref u, Err(ControllerError::ResourceNotFound(_))) if u == "bob"));
        assert!(matches!(r[1], (ref u, Ok(())) if u == "alice"));
        assert!(matches!(
            r[2].1,
            Err(ControllerError::UnacceptableCredential(_))
        ));
        assert!(matches!(
            r[3].1,
            Err(ControllerError::UnsupportedSaslMechanism(_))
        ));
        apply(&mut image, &d);
        assert_eq!(image.security().scram.len(), 1);
        // One change per user and request, as Kafka refuses two even for two mechanisms.
        let twice = alter_scram(
            &image,
            &[],
            &[
                ("alice".into(), scram_mechanism::SHA_256, cred(4096)),
                ("alice".into(), scram_mechanism::SHA_512, cred(4096)),
            ],
        );
        assert!(twice.records.is_empty());
        let del = alter_scram(&image, &[("alice".into(), scram_mechanism::SHA_256)], &[]);
        apply(&mut image, &del);
        assert!(image.security().scram.is_empty());
    }

    #[test]
    fn acls_are_a_set_and_filters_delete_what_they_match() {
        let mut image = MetadataImage::new();
        let b = AclBinding {
            resource_type: resource_type::TOPIC,
            resource_name: "pay".into(),
            pattern_type: pattern_type::PREFIXED,
            principal: "User:alice".into(),
            host: "*".into(),
            operation: operation::WRITE,
            permission: permission::ALLOW,
        };
        let d = create_acls(&image, &[b.clone(), b.clone()]);
        apply(&mut image, &d);
        assert_eq!(image.security().acls.len(), 1);
        let again = create_acls(&image, std::slice::from_ref(&b));
        assert!(again.records.is_empty());
        let filter = AclFilter {
            resource_type: resource_type::TOPIC,
            resource_name: Some("payments".into()),
            pattern_type: pattern_type::MATCH,
            principal: None,
            host: None,
            operation: operation::ANY,
            permission: permission::ANY,
        };
        let del = delete_acls(&image, &[filter.clone(), filter]);
        assert_eq!(del.records.len(), 1);
        apply(&mut image, &del);
        assert!(image.security().acls.is_empty());
    }

    #[test]
    fn quotas_are_checked_per_entity() {
        let user = vec![("user".to_string(), Some("alice".to_string()))];
        let d = alter_quotas(
            &[
                (
                    user.clone(),
                    vec![("producer_byte_rate".into(), Some(1024f64.to_bits()))],
                ),
                (user.clone(), vec![("bogus".into(), None)]),
                (
                    vec![("ip".into(), None), ("user".into(), None)],
                    vec![("producer_byte_rate".into(), None)],
                ),
                (
                    user,
                    vec![("producer_byte_rate".into(), Some((-1f64).to_bits()))],
                ),
            ],
            false,
        );
        let ControllerResponse::AlterClientQuotas(r) = &d.response else {
            panic!()
        };
        assert!(r[0].is_ok() && r[1].is_err() && r[2].is_err() && r[3].is_err());
        let mut image = MetadataImage::new();
        apply(&mut image, &d);
        assert_eq!(image.security().quotas.len(), 1);
    }
}
