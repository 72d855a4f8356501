//! DescribeClientQuotas (key 48): the client quotas in the metadata image whose entity
//! matches the request's filter, with Kafka's matching (`ClientQuotasImage.describe`): a
//! component matches an entity type exactly (a name), its default entity, or any entity of
//! the type; `strict` leaves out entities that name types the filter does not.

use crate::codes;
use crate::server::Ctx;
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use kafka_protocol::messages::{ApiKey, DescribeClientQuotasRequest, DescribeClientQuotasResponse};
use kafka_protocol::protocol::StrBytes;
use myelin_replication::cluster::security::QuotaEntity;
use std::collections::BTreeMap;
use std::ops::RangeInclusive;

/// The API key served here.
pub const API_KEY: ApiKey = ApiKey::DescribeClientQuotas;
/// Versions implemented (Kafka 4.4's range).
pub const VERSIONS: RangeInclusive<i16> = 0..=1;

/// `match_type` 0: the entity of that type with exactly this name.
pub const MATCH_EXACT: i8 = 0;
/// `match_type` 1: the default entity of that type.
pub const MATCH_DEFAULT: i8 = 1;
/// `match_type` 2: any entity of that type.
pub const MATCH_SPECIFIED: i8 = 2;

/// A parsed filter: types to match by name (`None`: the default entity), types to match by
/// presence.
#[derive(Debug, Default, PartialEq)]
pub struct Filter {
    exact: BTreeMap<String, Option<String>>,
    typed: Vec<String>,
    strict: bool,
}

/// Why a filter is refused: Kafka's error code and message.
pub type Refusal = (i16, String);

impl Filter {
    /// Parses and checks the components as Kafka does.
    pub fn parse(components: &[ComponentData], strict: bool) -> Result<Filter, Refusal> {
        let invalid = |m: String| (codes::INVALID_REQUEST, m);
        let mut f = Filter {
            strict,
            ..Default::default()
        };
        for c in components {
            let t = c.entity_type.to_string();
            if t.is_empty() {
                return Err(invalid("Invalid empty entity type.".into()));
            }
            if f.exact.contains_key(&t) || f.typed.contains(&t) {
                return Err(invalid(format!(
                    "Entity type {t} cannot appear more than once in the filter."
                )));
            }
            if !matches!(t.as_str(), "ip" | "user" | "client-id") {
                return Err((
                    codes::UNSUPPORTED_VERSION,
                    format!("Unsupported entity type {t}"),
                ));
            }
            let name = c._match.as_ref().map(|m| m.to_string());
            match c.match_type {
                MATCH_EXACT => {
                    let Some(name) = name else {
                        return Err(invalid(
                            "Request specified MATCH_TYPE_EXACT, but set match string to null."
                                .into(),
                        ));
                    };
                    f.exact.insert(t, Some(name));
                }
                MATCH_DEFAULT => {
                    if name.is_some() {
                        return Err(invalid(
                            "Request specified MATCH_TYPE_DEFAULT, but also specified a match \
                             string."
                                .into(),
                        ));
                    }
                    f.exact.insert(t, None);
                }
                MATCH_SPECIFIED => {
                    if name.is_some() {
                        return Err(invalid(
                            "Request specified MATCH_TYPE_SPECIFIED, but also specified a match \
                             string."
                                .into(),
                        ));
                    }
                    f.typed.push(t);
                }
                other => {
                    return Err((
                        codes::UNSUPPORTED_VERSION,
                        format!("Unknown match type {other}"),
                    ))
                }
            }
        }
        let has = |t: &str| f.exact.contains_key(t) || f.typed.iter().any(|x| x == t);
        if has("ip") && (has("user") || has("client-id")) {
            return Err(invalid(
                "Invalid entity filter component combination. IP filter component should not \
                 be used with user or clientId filter component."
                    .into(),
            ));
        }
        Ok(f)
    }

    /// Whether `entity` is selected.
    pub fn matches(&self, entity: &QuotaEntity) -> bool {
        if self.strict && entity.len() != self.exact.len() + self.typed.len() {
            return false;
        }
        let name_of = |t: &str| entity.iter().find(|(et, _)| et == t).map(|(_, n)| n);
        self.exact
            .iter()
            .all(|(t, want)| name_of(t).is_some_and(|n| n == want))
            && self.typed.iter().all(|t| name_of(t).is_some())
    }
}

/// Handles a DescribeClientQuotas request.
pub async fn handle(
    ctx: &Ctx,
    _version: i16,
    req: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    let filter = match Filter::parse(&req.components, req.strict) {
        Ok(f) => f,
        Err((code, message)) => {
            return DescribeClientQuotasResponse::default()
                .with_error_code(code)
                .with_error_message(Some(StrBytes::from_string(message)))
                .with_entries(None)
        }
    };
    let image = ctx.shard.metadata();
    let entries = image
        .security()
        .quotas
        .iter()
        .filter(|(entity, _)| filter.matches(entity))
        .map(|(entity, values)| {
            EntryData::default()
                .with_entity(
                    entity
                        .iter()
                        .map(|(t, n)| {
                            EntityData::default()
                                .with_entity_type(StrBytes::from_string(t.clone()))
                                .with_entity_name(n.clone().map(StrBytes::from_string))
                        })
                        .collect(),
                )
                .with_values(
                    values
                        .iter()
                        .map(|(k, bits)| {
                            ValueData::default()
                                .with_key(StrBytes::from_string(k.clone()))
                                .with_value(f64::from_bits(*bits))
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeClientQuotasResponse::default().with_entries(Some(entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(t: &str, m: i8, name: Option<&str>) -> ComponentData {
        ComponentData::default()
            .with_entity_type(StrBytes::from_string(t.into()))
            .with_match_type(m)
            .with_match(name.map(|n| StrBytes::from_string(n.into())))
    }

    fn e(parts: &[(&str, Option<&str>)]) -> QuotaEntity {
        let mut v: QuotaEntity = parts
            .iter()
            .map(|(t, n)| (t.to_string(), n.map(str::to_string)))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn matching_is_kafkas() {
        let alice = e(&[("user", Some("alice"))]);
        let alice_app = e(&[("user", Some("alice")), ("client-id", Some("app"))]);
        let default_user = e(&[("user", None)]);
        let f = Filter::parse(&[c("user", MATCH_SPECIFIED, None)], true).unwrap();
        assert!(f.matches(&alice) && f.matches(&default_user) && !f.matches(&alice_app));
        let f = Filter::parse(&[c("user", MATCH_SPECIFIED, None)], false).unwrap();
        assert!(f.matches(&alice_app));
        let f = Filter::parse(&[c("user", MATCH_EXACT, Some("alice"))], true).unwrap();
        assert!(f.matches(&alice) && !f.matches(&default_user));
        let f = Filter::parse(&[c("user", MATCH_DEFAULT, None)], false).unwrap();
        assert!(!f.matches(&alice) && f.matches(&default_user));
        // No components, not strict: everything; strict: nothing.
        assert!(Filter::parse(&[], false).unwrap().matches(&alice_app));
        assert!(!Filter::parse(&[], true).unwrap().matches(&alice));
    }

    #[test]
    fn bad_filters_get_kafkas_errors() {
        let code = |cs: &[ComponentData]| Filter::parse(cs, false).err().map(|(c, _)| c);
        assert_eq!(code(&[c("", 0, Some("x"))]), Some(codes::INVALID_REQUEST));
        assert_eq!(
            code(&[c("user", MATCH_EXACT, None)]),
            Some(codes::INVALID_REQUEST)
        );
        assert_eq!(
            code(&[c("user", MATCH_DEFAULT, Some("a"))]),
            Some(codes::INVALID_REQUEST)
        );
        assert_eq!(
            code(&[c("group", 0, Some("a"))]),
            Some(codes::UNSUPPORTED_VERSION)
        );
        assert_eq!(
            code(&[c("user", 7, None)]),
            Some(codes::UNSUPPORTED_VERSION)
        );
        assert_eq!(
            code(&[c("user", 2, None), c("user", 1, None)]),
            Some(codes::INVALID_REQUEST)
        );
        assert_eq!(
            code(&[c("ip", 2, None), c("user", 1, None)]),
            Some(codes::INVALID_REQUEST)
        );
    }
}
