//! AlterClientQuotas (key 49): sets or removes quota values per entity, through the
//! controller. Each entity is checked here first as Kafka's `ClientQuotaControlManager`
//! checks it (entity types and their combination, keys valid for the combination, values
//! positive and integral where Kafka's key is an integer), with Kafka's messages; the
//! controller checks again before it writes the records.

use crate::codes;
use crate::server::Ctx;
use kafka_protocol::messages::alter_client_quotas_response::{EntityData, EntryData};
use kafka_protocol::messages::{AlterClientQuotasRequest, AlterClientQuotasResponse, ApiKey};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::{QuotaChanges, QuotaEntity};
use myelin_replication::controller::{ControllerRequest, ControllerResponse};
use std::collections::BTreeMap;
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::AlterClientQuotas;
/// Versions implemented (Kafka 4.4's range).
pub const VERSIONS: RangeInclusive<i16> = 0..=1;

/// An entity's requested operations: (key, value to set, or `None` to remove).
type Ops = Vec<(String, Option<f64>)>;
/// An entity's outcome: Kafka's error code and message on failure.
type Outcome = Result<(), (i16, String)>;

/// How Kafka types a quota key's value.
#[derive(Clone, Copy)]
enum KeyType {
    Long,
    Int,
    Double,
}

/// The keys an entity of these types may set (`QuotaConfig`'s user, client, user-client
/// and ip config definitions).
fn keys_for(entity: &QuotaEntity) -> Result<&'static [(&'static str, KeyType)], String> {
    const CLIENT: &[(&str, KeyType)] = &[
        ("producer_byte_rate", KeyType::Long),
        ("consumer_byte_rate", KeyType::Long),
        ("request_percentage", KeyType::Double),
        ("controller_mutation_rate", KeyType::Double),
    ];
    const IP: &[(&str, KeyType)] = &[("connection_creation_rate", KeyType::Int)];
    let has = |t: &str| entity.iter().any(|(et, _)| et == t);
    if has("ip") {
        if has("user") || has("client-id") {
            return Err(
                "Invalid quota entity combination, IP entity should not be combined \
                        with User or ClientId"
                    .into(),
            );
        }
        let ip = entity
            .iter()
            .find(|(t, _)| t == "ip")
            .and_then(|(_, n)| n.clone());
        if let Some(ip) = ip {
            if ip.parse::<std::net::IpAddr>().is_err() {
                return Err(format!("{ip} is not a valid IP or resolvable host."));
            }
        }
        return Ok(IP);
    }
    if has("user") || has("client-id") {
        return Ok(CLIENT);
    }
    Err("Invalid empty client quota entity".into())
}

/// Checks one entity's entity parts and operations as Kafka does, returning the changes to
/// send to the controller (removals of keys that are not set are dropped, as Kafka writes
/// no record for them).
pub fn check(
    entity: &QuotaEntity,
    ops: &[(String, Option<f64>)],
    current: Option<&BTreeMap<String, u64>>,
) -> Result<QuotaChanges, String> {
    if entity.is_empty() {
        return Err("Invalid empty client quota entity".into());
    }
    for (t, n) in entity {
        if !matches!(t.as_str(), "user" | "client-id" | "ip") {
            return Err(format!("Unhandled client quota entity type: {t}"));
        }
        if n.as_deref() == Some("") {
            return Err(format!("Empty {t} not supported"));
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for (key, _) in ops {
        if !seen.insert(key.as_str()) {
            return Err(format!(
                "Duplicate quota key {key} not updating quota for this entity"
            ));
        }
    }
    let keys = keys_for(entity)?;
    let mut out = Vec::new();
    for (key, value) in ops {
        let Some(v) = *value else {
            if current.is_some_and(|c| c.contains_key(key)) {
                out.push((key.clone(), None));
            }
            continue;
        };
        let Some((_, ty)) = keys.iter().find(|(k, _)| k == key) else {
            return Err(format!("Invalid configuration key {key}"));
        };
        if v <= 0.0 || v.is_nan() {
            return Err(format!("Quota {key} must be greater than 0"));
        }
        let max = match ty {
            KeyType::Double => None,
            KeyType::Int => Some((i32::MAX as f64, "an INT")),
            KeyType::Long => Some((i64::MAX as f64, "a LONG")),
        };
        if let Some((max, name)) = max {
            if v > max {
                return Err(format!("Proposed value for {key} is too large for {name}."));
            }
            if (v % 1.0).abs() > 1e-6 {
                return Err(format!("{key} cannot be a fractional value."));
            }
        }
        out.push((key.clone(), Some(v.to_bits())));
    }
    Ok(out)
}

/// Handles an AlterClientQuotas request.
pub async fn handle(
    ctx: &Ctx,
    _version: i16,
    req: AlterClientQuotasRequest,
) -> AlterClientQuotasResponse {
    let image = ctx.shard.metadata();
    // Kafka keys the request by entity, a later duplicate replacing an earlier one.
    let mut entries: Vec<(QuotaEntity, Ops)> = Vec::new();
    for e in &req.entries {
        let mut entity: BTreeMap<String, Option<String>> = BTreeMap::new();
        for part in &e.entity {
            entity.insert(
                part.entity_type.to_string(),
                part.entity_name.as_ref().map(|n| n.to_string()),
            );
        }
        let entity: QuotaEntity = entity.into_iter().collect();
        let ops = e
            .ops
            .iter()
            .map(|o| (o.key.to_string(), (!o.remove).then_some(o.value)))
            .collect();
        entries.retain(|(x, _)| *x != entity);
        entries.push((entity, ops));
    }
    let mut results: Vec<(QuotaEntity, Outcome)> = Vec::new();
    let mut to_controller = Vec::new();
    for (entity, ops) in &entries {
        match check(entity, ops, image.security().quotas.get(entity)) {
            Ok(changes) => {
                if !changes.is_empty() {
                    to_controller.push((entity.clone(), changes));
                }
                results.push((entity.clone(), Ok(())));
            }
            Err(m) => results.push((entity.clone(), Err((codes::INVALID_REQUEST, m)))),
        }
    }
    if !to_controller.is_empty() {
        let sent: Vec<QuotaEntity> = to_controller.iter().map(|(e, _)| e.clone()).collect();
        let request = ControllerRequest::AlterClientQuotas {
            entries: to_controller,
            validate_only: req.validate_only,
        };
        let answer = crate::api::controller::results(ctx, request, sent.len(), |r| match r {
            ControllerResponse::AlterClientQuotas(per) => Ok(per),
            other => Err(other),
        });
        let answers: Vec<Outcome> = match answer.await {
            Ok(per) => per
                .into_iter()
                .map(|r| r.map_err(|e| (codes::controller(&e), e.to_string())))
                .collect(),
            Err(refusal) => vec![Err(refusal); sent.len()],
        };
        for (entity, answer) in sent.iter().zip(answers) {
            if let Some((_, r)) = results.iter_mut().find(|(e, _)| e == entity) {
                *r = answer;
            }
        }
    }
    let entries = results
        .into_iter()
        .map(|(entity, r)| {
            let base = EntryData::default().with_entity(
                entity
                    .into_iter()
                    .map(|(t, n)| {
                        EntityData::default()
                            .with_entity_type(StrBytes::from_string(t))
                            .with_entity_name(n.map(StrBytes::from_string))
                    })
                    .collect(),
            );
            match r {
                Ok(()) => base,
                Err((code, m)) => base
                    .with_error_code(code)
                    .with_error_message(Some(StrBytes::from_string(m))),
            }
        })
        .collect();
    AlterClientQuotasResponse::default().with_entries(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(parts: &[(&str, Option<&str>)]) -> QuotaEntity {
        let mut v: QuotaEntity = parts
            .iter()
            .map(|(t, n)| (t.to_string(), n.map(str::to_string)))
            .collect();
        v.sort();
        v
    }

    fn op(k: &str, v: Option<f64>) -> (String, Option<f64>) {
        (k.to_string(), v)
    }

    #[test]
    fn checks_are_kafkas() {
        let alice = e(&[("user", Some("alice"))]);
        assert!(check(&alice, &[op("producer_byte_rate", Some(1024.0))], None).is_ok());
        let err = |entity: &QuotaEntity, ops: &[(String, Option<f64>)]| {
            check(entity, ops, None).unwrap_err()
        };
        assert_eq!(
            err(&alice, &[op("producer_byte_rate", Some(1.5))]),
            "producer_byte_rate cannot be a fractional value."
        );
        assert!(check(&alice, &[op("request_percentage", Some(1.5))], None).is_ok());
        assert_eq!(
            err(&alice, &[op("connection_creation_rate", Some(1.0))]),
            "Invalid configuration key connection_creation_rate"
        );
        assert_eq!(
            err(&alice, &[op("producer_byte_rate", Some(0.0))]),
            "Quota producer_byte_rate must be greater than 0"
        );
        assert_eq!(
            err(&e(&[("user", Some(""))]), &[]),
            "Empty user not supported"
        );
        assert_eq!(
            err(&e(&[("group", Some("g"))]), &[]),
            "Unhandled client quota entity type: group"
        );
        assert!(err(&e(&[("ip", Some("nope"))]), &[]).contains("not a valid IP"));
        assert!(err(&e(&[("ip", None), ("user", None)]), &[]).contains("combination"));
        assert!(check(
            &e(&[("ip", Some("127.0.0.1"))]),
            &[op("connection_creation_rate", Some(10.0))],
            None
        )
        .is_ok());
        assert!(err(
            &alice,
            &[
                op("producer_byte_rate", Some(1.0)),
                op("producer_byte_rate", None)
            ]
        )
        .starts_with("Duplicate quota key"));
        // Removing what is not set, even an unknown key, is no change and no error.
        assert_eq!(check(&alice, &[op("whatever", None)], None), Ok(vec![]));
    }
}
