//! SASL OAUTHBEARER (RFC 7628) with signed JWTs (RFC 7519) checked against a JWKS file, as
//! Kafka's `OAuthBearerValidatorCallbackHandler` checks them: the signature (RS256 or ES256)
//! by the key the token's `kid` names, `exp` (with `sasl.oauthbearer.clock.skew.seconds`),
//! `nbf` and `iat` not in the future, and the expected audience and issuer when configured.
//! The principal is `User:` and the subject claim (`sub`, or
//! `sasl.oauthbearer.sub.claim.name`).

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;
use std::path::PathBuf;

/// The settings of one listener's OAUTHBEARER.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OauthConfig {
    /// `sasl.oauthbearer.jwks.endpoint.url`, a `file:` URL: the keys tokens are signed with.
    pub jwks_file: PathBuf,
    /// `sasl.oauthbearer.expected.audience`: one of them must be in `aud`, if any are given.
    pub expected_audience: Vec<String>,
    /// `sasl.oauthbearer.expected.issuer`.
    pub expected_issuer: Option<String>,
    /// `sasl.oauthbearer.sub.claim.name` (default `sub`).
    pub sub_claim: String,
    /// `sasl.oauthbearer.clock.skew.seconds` (default 30).
    pub clock_skew_s: i64,
}

/// A validated token: the principal and when it expires (ms since the epoch).
#[derive(Debug, PartialEq, Eq)]
pub struct Validated {
    /// `User:<subject>`.
    pub principal: String,
    /// `exp` in milliseconds.
    pub expires_ms: i64,
}

/// Extracts the bearer token from the client's first message
/// (`n,,\x01auth=Bearer <token>\x01...\x01`).
pub fn bearer_token(message: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(message).map_err(|_| "invalid OAUTHBEARER message")?;
    let (gs2, rest) = text
        .split_once('\x01')
        .ok_or("invalid OAUTHBEARER message")?;
    if !gs2.starts_with("n,") && !gs2.starts_with("y,") {
        return Err("invalid OAUTHBEARER message: channel binding is not supported".into());
    }
    rest.split('\x01')
        .find_map(|kv| kv.strip_prefix("auth="))
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_string())
        .ok_or_else(|| "invalid OAUTHBEARER message: no bearer token".into())
}

/// Checks a JWT against the configured keys and claims at `now_ms`.
pub fn validate(token: &str, config: &OauthConfig, now_ms: i64) -> Result<Validated, String> {
    let mut parts = token.split('.');
    let (Some(h), Some(c), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("the token is not a signed JWT".into());
    };
    let header: serde_json::Value = decode_json(h, "header")?;
    let claims: serde_json::Value = decode_json(c, "claims")?;
    let signature = B64URL
        .decode(s)
        .map_err(|_| "the token's signature is not base64url")?;
    let alg = header.get("alg").and_then(|a| a.as_str()).unwrap_or("");
    let kid = header.get("kid").and_then(|k| k.as_str());
    let jwks_text = std::fs::read_to_string(&config.jwks_file)
        .map_err(|e| format!("JWKS {}: {e}", config.jwks_file.display()))?;
    let jwks: serde_json::Value =
        serde_json::from_str(&jwks_text).map_err(|e| format!("JWKS: {e}"))?;
    let keys = jwks
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or("JWKS without keys")?;
    let key = keys
        .iter()
        .find(|k| kid.is_none() || k.get("kid").and_then(|v| v.as_str()) == kid)
        .ok_or_else(|| format!("no JWKS key with kid {kid:?}"))?;
    let signed = format!("{h}.{c}");
    verify(alg, key, signed.as_bytes(), &signature)?;

    let skew = config.clock_skew_s.saturating_mul(1000);
    let seconds = |name: &str| claims.get(name).and_then(|v| v.as_f64());
    let exp = seconds("exp").ok_or("the token has no exp claim")?;
    let exp_ms = (exp * 1000.0) as i64;
    if exp_ms.saturating_add(skew) <= now_ms {
        return Err("the token has expired".into());
    }
    for claim in ["nbf", "iat"] {
        if let Some(t) = seconds(claim) {
            if ((t * 1000.0) as i64).saturating_sub(skew) > now_ms {
                return Err(format!("the token's {claim} is in the future"));
            }
        }
    }
    if let Some(iss) = &config.expected_issuer {
        if claims.get("iss").and_then(|v| v.as_str()) != Some(iss.as_str()) {
            return Err("the token's issuer is not the expected one".into());
        }
    }
    if !config.expected_audience.is_empty() {
        let aud: Vec<&str> = match claims.get("aud") {
            Some(serde_json::Value::String(a)) => vec![a.as_str()],
            Some(serde_json::Value::Array(a)) => a.iter().filter_map(|v| v.as_str()).collect(),
            _ => Vec::new(),
        };
        if !aud
            .iter()
            .any(|a| config.expected_audience.iter().any(|e| e == a))
        {
            return Err("the token's audience is not an expected one".into());
        }
    }
    let sub_claim = if config.sub_claim.is_empty() {
        "sub"
    } else {
        config.sub_claim.as_str()
    };
    let sub = claims
        .get(sub_claim)
        .and_then(|v| v.as_str())
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| format!("the token has no {sub_claim} claim"))?;
    Ok(Validated {
        principal: format!("User:{sub}"),
        expires_ms: exp_ms,
    })
}

fn decode_json(part: &str, what: &str) -> Result<serde_json::Value, String> {
    let bytes = B64URL
        .decode(part)
        .map_err(|_| format!("the token's {what} is not base64url"))?;
    serde_json::from_slice(&bytes).map_err(|_| format!("the token's {what} is not JSON"))
}

fn field(key: &serde_json::Value, name: &str) -> Result<Vec<u8>, String> {
    key.get(name)
        .and_then(|v| v.as_str())
        .and_then(|v| B64URL.decode(v).ok())
        .ok_or_else(|| format!("JWKS key without {name}"))
}

fn verify(alg: &str, key: &serde_json::Value, message: &[u8], sig: &[u8]) -> Result<(), String> {
    use ring::signature;
    let bad = |_| "the token's signature does not verify".to_string();
    match alg {
        "RS256" => {
            let public = signature::RsaPublicKeyComponents {
                n: field(key, "n")?,
                e: field(key, "e")?,
            };
            public
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, message, sig)
                .map_err(bad)
        }
        "ES256" => {
            let mut point = vec![4u8];
            point.extend(field(key, "x")?);
            point.extend(field(key, "y")?);
            signature::UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(message, sig)
                .map_err(bad)
        }
        other => Err(format!("signing algorithm {other:?} is not accepted")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};

    fn signed(key: &EcdsaKeyPair, kid: &str, claims: &str) -> String {
        let h = B64URL.encode(format!(r#"{{"alg":"ES256","typ":"JWT","kid":"{kid}"}}"#));
        let c = B64URL.encode(claims);
        let sig = key
            .sign(&SystemRandom::new(), format!("{h}.{c}").as_bytes())
            .unwrap();
        format!("{h}.{c}.{}", B64URL.encode(sig.as_ref()))
    }

    #[test]
    fn tokens_are_checked_as_kafka_checks_them() {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let point = key.public_key().as_ref();
        let jwks = format!(
            r#"{{"keys":[{{"kty":"EC","crv":"P-256","kid":"k1","x":"{}","y":"{}"}}]}}"#,
            B64URL.encode(&point[1..33]),
            B64URL.encode(&point[33..65])
        );
        let dir = std::env::temp_dir().join(format!("myelin-jwks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("jwks.json");
        std::fs::write(&file, jwks).unwrap();
        let config = OauthConfig {
            jwks_file: file,
            expected_audience: vec!["myelin".into()],
            expected_issuer: Some("https://idp".into()),
            sub_claim: "sub".into(),
            clock_skew_s: 30,
        };
        let now = 1_800_000_000_000i64;
        let good = signed(
            &key,
            "k1",
            r#"{"sub":"alice","exp":1800000600,"iat":1800000000,"aud":["myelin"],"iss":"https://idp"}"#,
        );
        assert_eq!(
            validate(&good, &config, now),
            Ok(Validated {
                principal: "User:alice".into(),
                expires_ms: 1_800_000_600_000
            })
        );
        let expired = signed(
            &key,
            "k1",
            r#"{"sub":"alice","exp":1799999000,"aud":"myelin","iss":"https://idp"}"#,
        );
        assert!(validate(&expired, &config, now)
            .unwrap_err()
            .contains("expired"));
        let wrong_aud = signed(
            &key,
            "k1",
            r#"{"sub":"alice","exp":1800000600,"aud":"other","iss":"https://idp"}"#,
        );
        assert!(validate(&wrong_aud, &config, now)
            .unwrap_err()
            .contains("audience"));
        let unknown_kid = signed(&key, "k2", r#"{"sub":"a","exp":1800000600}"#);
        assert!(validate(&unknown_kid, &config, now).is_err());
        let mut forged = good.clone();
        forged.pop();
        forged.push(if good.ends_with('A') { 'B' } else { 'A' });
        assert!(validate(&forged, &config, now).is_err());
        for garbage in ["", "a.b", "a.b.c.d", "!!.??.**"] {
            assert!(validate(garbage, &config, now).is_err());
        }
        let unsigned = format!(
            "{}.{}.",
            B64URL.encode(r#"{"alg":"none"}"#),
            B64URL.encode(r#"{"sub":"alice","exp":1800000600}"#)
        );
        assert!(validate(&unsigned, &config, now).is_err());
        assert_eq!(
            bearer_token(b"n,,\x01auth=Bearer abc.def.ghi\x01\x01").unwrap(),
            "abc.def.ghi"
        );
        assert!(bearer_token(b"p=x,,\x01auth=Bearer a\x01\x01").is_err());
        assert!(bearer_token(b"n,,\x01\x01").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
