//! The server side of SASL PLAIN (RFC 4616) and SCRAM-SHA-256/512 (RFC 5802, RFC 7677), as
//! sans-IO exchanges: each takes the client's token and answers with the next server token,
//! the principal once authenticated, or a failure carrying the message Kafka sends.
//!
//! Credentials come from the caller in a [`Verifier`]: PLAIN users from the listener's
//! JAAS-style list, SCRAM credentials from cluster metadata, looked up by user name, and the
//! OAUTHBEARER settings (tokens are JWTs checked by [`super::oauth`]).

use super::oauth::{self, OauthConfig};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::digest::core_api::BlockSizeUser;
use hmac::digest::KeyInit;
use hmac::{Mac, SimpleHmac};
use myelin_replication::cluster::security::{scram_mechanism, ScramCredential};
use sha2::{Digest, Sha256, Sha512};
use std::collections::BTreeMap;
use subtle::ConstantTimeEq;

/// What one step of an exchange gives.
#[derive(Debug, PartialEq, Eq)]
pub enum Step {
    /// Send this token and wait for the client's next one.
    Continue(Vec<u8>),
    /// Authenticated as `principal`; send the final token (possibly empty).
    Done {
        /// `User:name`.
        principal: String,
        /// The last server token.
        token: Vec<u8>,
        /// When the credential itself ends, in ms since the epoch: an OAUTHBEARER token's
        /// expiry.
        expires_ms: Option<i64>,
    },
    /// Authentication failed; the message goes into SaslAuthenticate's `error_message`.
    Failed(String),
}

/// Random bytes in the server's part of a SCRAM nonce (24 characters of base64).
const SERVER_NONCE_BYTES: usize = 18;

/// The mechanisms this broker can serve.
pub const MECHANISMS: &[&str] = &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"];

/// What a client's tokens are checked against.
pub struct Verifier<'a, F> {
    /// PLAIN users and their passwords (the listener's JAAS list).
    pub plain_users: &'a BTreeMap<String, String>,
    /// SCRAM credentials by user name and [`scram_mechanism`] code.
    pub scram: F,
    /// OAUTHBEARER's settings, when the listener has them.
    pub oauth: Option<&'a OauthConfig>,
    /// Now, in ms since the epoch, for token expiry.
    pub now_ms: i64,
}

/// An exchange in progress on one connection.
pub enum Exchange {
    /// PLAIN: one token, `authzid NUL user NUL password`.
    Plain,
    /// OAUTHBEARER: one token carrying a JWT.
    OauthBearer,
    /// OAUTHBEARER after a refused token: the error challenge went out (RFC 7628 §3.2.2),
    /// and the client's next message, a lone %x01, ends the exchange in failure.
    OauthRefused,
    /// SCRAM, before the client-first message.
    ScramStart {
        /// [`scram_mechanism`] code.
        mechanism: u8,
    },
    /// SCRAM, after the server-first message.
    ScramSent {
        /// [`scram_mechanism`] code.
        mechanism: u8,
        /// The user named in client-first.
        user: String,
        /// The credential the proof is checked against.
        credential: ScramCredential,
        /// The combined nonce.
        nonce: String,
        /// client-first-bare "," server-first, the start of the AuthMessage.
        auth_prefix: String,
    },
    /// Finished (successfully or not): any further token is out of order.
    Finished,
}

fn invalid_credentials(mechanism: &str) -> Step {
    Step::Failed(format!(
        "Authentication failed during authentication due to invalid credentials with SASL \
         mechanism {mechanism}"
    ))
}

impl Exchange {
    /// The exchange for `mechanism`, if this broker serves it.
    pub fn start(mechanism: &str) -> Option<Exchange> {
        match mechanism {
            "PLAIN" => Some(Exchange::Plain),
            "OAUTHBEARER" => Some(Exchange::OauthBearer),
            m => scram_mechanism::from_name(m).map(|mechanism| Exchange::ScramStart { mechanism }),
        }
    }

    /// Takes the client's next token.
    pub fn step<F>(&mut self, token: &[u8], v: &Verifier<'_, F>) -> Step
    where
        F: Fn(&str, u8) -> Option<ScramCredential>,
    {
        match std::mem::replace(self, Exchange::Finished) {
            Exchange::Plain => plain(token, v.plain_users),
            Exchange::OauthBearer => match oauth_bearer(token, v.oauth, v.now_ms) {
                Some(done) => done,
                None => {
                    *self = Exchange::OauthRefused;
                    Step::Continue(OAUTH_INVALID_TOKEN.as_bytes().to_vec())
                }
            },
            Exchange::OauthRefused => Step::Failed(OAUTH_INVALID_TOKEN.into()),
            Exchange::ScramStart { mechanism } => {
                match self.scram_first(mechanism, token, &v.scram) {
                    Ok(step) => step,
                    Err(m) => Step::Failed(m),
                }
            }
            Exchange::ScramSent {
                mechanism,
                user,
                credential,
                nonce,
                auth_prefix,
            } => scram_final(mechanism, &user, &credential, &nonce, &auth_prefix, token),
            Exchange::Finished => Step::Failed("unexpected SASL token after the exchange".into()),
        }
    }

    fn scram_first(
        &mut self,
        mechanism: u8,
        token: &[u8],
        scram: impl Fn(&str, u8) -> Option<ScramCredential>,
    ) -> Result<Step, String> {
        let name = scram_mechanism::name(mechanism).unwrap_or("SCRAM");
        let text = std::str::from_utf8(token).map_err(|_| "client-first is not UTF-8")?;
        // gs2-header: "n,," or "y,," (no channel binding), optionally with "a=authzid".
        let mut parts = text.splitn(3, ',');
        let (Some(cbind), Some(authzid), Some(bare)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err("invalid SCRAM client-first message".into());
        };
        if cbind != "n" && cbind != "y" {
            return Err("channel binding is not supported".into());
        }
        let mut user = None;
        let mut client_nonce = None;
        for attr in bare.split(',') {
            match attr.split_once('=') {
                Some(("n", v)) => user = Some(unescape_name(v)?),
                Some(("r", v)) => client_nonce = Some(v.to_string()),
                Some(("m", _)) => return Err("SCRAM mandatory extensions are not supported".into()),
                Some(("tokenauth", "true")) => {
                    return Err("delegation tokens are not supported".into());
                }
                _ => {}
            }
        }
        let (Some(user), Some(client_nonce)) = (user, client_nonce) else {
            return Err("invalid SCRAM client-first message".into());
        };
        if let Some(a) = authzid.strip_prefix("a=") {
            if unescape_name(a)? != user {
                return Err("authorization id must equal the user name".into());
            }
        }
        if client_nonce.is_empty()
            || !client_nonce
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b',')
        {
            return Err("invalid SCRAM nonce".into());
        }
        let Some(credential) = scram(&user, mechanism) else {
            return Ok(invalid_credentials(name));
        };
        let mut random = [0u8; SERVER_NONCE_BYTES];
        getrandom::fill(&mut random).map_err(|e| format!("no randomness: {e}"))?;
        let nonce = format!("{client_nonce}{}", B64.encode(random));
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&credential.salt),
            credential.iterations
        );
        let auth_prefix = format!("{bare},{server_first}");
        *self = Exchange::ScramSent {
            mechanism,
            user,
            credential,
            nonce,
            auth_prefix,
        };
        Ok(Step::Continue(server_first.into_bytes()))
    }
}

/// The error challenge for a refused OAUTHBEARER token, and then the failure's message, as
/// Kafka words them.
const OAUTH_INVALID_TOKEN: &str = r#"{"status":"invalid_token"}"#;

/// The session for a valid token; `None` for one refused.
fn oauth_bearer(token: &[u8], config: Option<&OauthConfig>, now_ms: i64) -> Option<Step> {
    let checked = config
        .ok_or_else(|| "OAUTHBEARER is not configured".to_string())
        .and_then(|c| oauth::validate(&oauth::bearer_token(token)?, c, now_ms));
    match checked {
        Ok(valid) => Some(Step::Done {
            principal: valid.principal,
            token: Vec::new(),
            expires_ms: Some(valid.expires_ms),
        }),
        Err(e) => {
            tracing::debug!("OAUTHBEARER token refused: {e}");
            None
        }
    }
}

fn plain(token: &[u8], users: &BTreeMap<String, String>) -> Step {
    let mut parts = token.split(|b| *b == 0);
    let (Some(authzid), Some(user), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Step::Failed("invalid SASL/PLAIN request: expected 3 tokens".into());
    };
    let (Ok(authzid), Ok(user)) = (std::str::from_utf8(authzid), std::str::from_utf8(user)) else {
        return Step::Failed("invalid SASL/PLAIN request: not UTF-8".into());
    };
    if user.is_empty() {
        return Step::Failed("Authentication failed: username not specified".into());
    }
    if !authzid.is_empty() && authzid != user {
        return Step::Failed(
            "Authentication failed: Client requested an authorization id that is different \
             from username"
                .into(),
        );
    }
    // Compared in constant time, and a missing user costs the same comparison.
    let expected = users.get(user);
    let stored = expected.map(String::as_bytes).unwrap_or(b"");
    let same: bool = stored.ct_eq(password).into();
    if expected.is_some() && same {
        Step::Done {
            principal: format!("User:{user}"),
            token: Vec::new(),
            expires_ms: None,
        }
    } else {
        Step::Failed("Authentication failed: Invalid username or password".into())
    }
}

fn scram_final(
    mechanism: u8,
    user: &str,
    credential: &ScramCredential,
    nonce: &str,
    auth_prefix: &str,
    token: &[u8],
) -> Step {
    let name = scram_mechanism::name(mechanism).unwrap_or("SCRAM");
    let Ok(text) = std::str::from_utf8(token) else {
        return Step::Failed("client-final is not UTF-8".into());
    };
    let Some((without_proof, proof)) = text.rsplit_once(",p=") else {
        return Step::Failed("invalid SCRAM client-final message".into());
    };
    let mut channel = None;
    let mut got_nonce = None;
    for attr in without_proof.split(',') {
        match attr.split_once('=') {
            Some(("c", v)) => channel = Some(v),
            Some(("r", v)) => got_nonce = Some(v),
            _ => {}
        }
    }
    // "biws" is base64("n,,"), "eSws" base64("y,,"): the header without channel binding.
    if !matches!(channel, Some("biws") | Some("eSws")) || got_nonce != Some(nonce) {
        return Step::Failed("invalid SCRAM client-final message".into());
    }
    let Ok(proof) = B64.decode(proof) else {
        return Step::Failed("invalid SCRAM client proof".into());
    };
    let auth_message = format!("{auth_prefix},{without_proof}");
    let (server_signature, stored) = match mechanism {
        scram_mechanism::SHA_512 => signatures::<Sha512>(credential, &auth_message, &proof),
        _ => signatures::<Sha256>(credential, &auth_message, &proof),
    };
    if !stored {
        return invalid_credentials(name);
    }
    Step::Done {
        principal: format!("User:{user}"),
        token: format!("v={}", B64.encode(server_signature)).into_bytes(),
        expires_ms: None,
    }
}

/// `HMAC(key, data)` with the hash `D`.
fn hmac<D: Digest + BlockSizeUser>(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC takes keys of any length, so construction cannot fail; an empty MAC would only
    // make the proof check fail.
    match <SimpleHmac<D> as KeyInit>::new_from_slice(key) {
        Ok(mut mac) => {
            Mac::update(&mut mac, data);
            mac.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// Checks the client proof: `H(proof XOR HMAC(StoredKey, AuthMessage)) == StoredKey`.
/// Returns the server signature and whether the proof holds.
fn signatures<D: Digest + BlockSizeUser>(
    credential: &ScramCredential,
    auth_message: &str,
    proof: &[u8],
) -> (Vec<u8>, bool) {
    let client_signature = hmac::<D>(&credential.stored_key, auth_message.as_bytes());
    let server_signature = hmac::<D>(&credential.server_key, auth_message.as_bytes());
    if proof.len() != client_signature.len() {
        return (server_signature, false);
    }
    let client_key: Vec<u8> = proof
        .iter()
        .zip(&client_signature)
        .map(|(a, b)| a ^ b)
        .collect();
    let stored_key = D::digest(&client_key);
    let ok: bool = stored_key.as_slice().ct_eq(&credential.stored_key).into();
    (server_signature, ok)
}

/// The stored credential for a salted password (`Hi(password, salt, i)`), as
/// AlterUserScramCredentials delivers it: `StoredKey = H(HMAC(salted, "Client Key"))`,
/// `ServerKey = HMAC(salted, "Server Key")`.
pub fn credential_from_salted(
    mechanism: u8,
    salt: Vec<u8>,
    salted_password: &[u8],
    iterations: i32,
) -> Option<ScramCredential> {
    fn keys<D: Digest + BlockSizeUser>(salted: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let client_key = hmac::<D>(salted, b"Client Key");
        (
            D::digest(&client_key).to_vec(),
            hmac::<D>(salted, b"Server Key"),
        )
    }
    let (stored_key, server_key) = match mechanism {
        scram_mechanism::SHA_256 => keys::<Sha256>(salted_password),
        scram_mechanism::SHA_512 => keys::<Sha512>(salted_password),
        _ => return None,
    };
    Some(ScramCredential {
        salt,
        iterations,
        stored_key,
        server_key,
    })
}

/// A SCRAM `saslname`: `=2C` is `,` and `=3D` is `=`; any other `=` is an error.
fn unescape_name(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some((head, tail)) = rest.split_once('=') {
        out.push_str(head);
        if let Some(after) = tail.strip_prefix("2C") {
            out.push(',');
            rest = after;
        } else if let Some(after) = tail.strip_prefix("3D") {
            out.push('=');
            rest = after;
        } else {
            return Err("invalid SCRAM user name".into());
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `Hi()` of RFC 5802, for the tests' client side.
    fn salted_sha256(password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let hmac = hmac::<Sha256>;
        let mut u = hmac(password, &[salt, &1u32.to_be_bytes()].concat());
        let mut out = u.clone();
        for _ in 1..iterations {
            u = hmac(password, &u);
            out.iter_mut().zip(&u).for_each(|(o, x)| *o ^= x);
        }
        out
    }

    /// A verifier without OAUTHBEARER.
    fn verifier<F>(plain_users: &BTreeMap<String, String>, scram: F) -> Verifier<'_, F> {
        Verifier {
            plain_users,
            scram,
            oauth: None,
            now_ms: 0,
        }
    }

    #[test]
    fn rfc7677_exchange_authenticates() {
        // RFC 7677's SCRAM-SHA-256 example: user "user", password "pencil".
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let salted = salted_sha256(b"pencil", &salt, 4096);
        let cred = credential_from_salted(scram_mechanism::SHA_256, salt, &salted, 4096).unwrap();
        let mut ex = Exchange::start("SCRAM-SHA-256").unwrap();
        let users = BTreeMap::new();
        let lookup = |u: &str, m: u8| (u == "user" && m == 1).then(|| cred.clone());
        let Step::Continue(first) = ex.step(
            b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
            &verifier(&users, lookup),
        ) else {
            panic!("no server-first")
        };
        let first = String::from_utf8(first).unwrap();
        let nonce = first.split(',').next().unwrap().strip_prefix("r=").unwrap();
        assert!(nonce.starts_with("rOprNGfwEbeRWgbNEkqO"));
        // The client's proof, computed as a client does.
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("n=user,r=rOprNGfwEbeRWgbNEkqO,{first},{without_proof}");
        let hmac = hmac::<Sha256>;
        let client_key = hmac(&salted, b"Client Key");
        let signature = hmac(&Sha256::digest(&client_key), auth.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(&signature)
            .map(|(a, b)| a ^ b)
            .collect();
        let last = format!("{without_proof},p={}", B64.encode(&proof));
        let mut wrong = ex_clone(&ex);
        match ex.step(last.as_bytes(), &verifier(&users, lookup)) {
            Step::Done {
                principal, token, ..
            } => {
                assert_eq!(principal, "User:user");
                let expected = hmac(&hmac(&salted, b"Server Key"), auth.as_bytes());
                assert_eq!(token, format!("v={}", B64.encode(expected)).into_bytes());
            }
            other => panic!("{other:?}"),
        }
        let mut bad = proof.clone();
        bad[0] ^= 1;
        let forged = format!("{without_proof},p={}", B64.encode(&bad));
        assert!(matches!(
            wrong.step(forged.as_bytes(), &verifier(&users, lookup)),
            Step::Failed(_)
        ));
    }

    fn ex_clone(ex: &Exchange) -> Exchange {
        match ex {
            Exchange::ScramSent {
                mechanism,
                user,
                credential,
                nonce,
                auth_prefix,
            } => Exchange::ScramSent {
                mechanism: *mechanism,
                user: user.clone(),
                credential: credential.clone(),
                nonce: nonce.clone(),
                auth_prefix: auth_prefix.clone(),
            },
            _ => Exchange::Finished,
        }
    }

    #[test]
    fn unknown_users_and_garbage_fail_without_panics() {
        let users: BTreeMap<String, String> = [("alice".to_string(), "secret".to_string())]
            .into_iter()
            .collect();
        let none = |_: &str, _: u8| None;
        let mut p = Exchange::start("PLAIN").unwrap();
        assert!(matches!(
            p.step(b"\0alice\0secret", &verifier(&users, none)),
            Step::Done { .. }
        ));
        for bad in [
            &b"\0alice\0wrong"[..],
            b"\0bob\0secret",
            b"alice",
            b"\0\0",
            b"x\0alice\0secret",
        ] {
            let mut p = Exchange::start("PLAIN").unwrap();
            assert!(
                matches!(p.step(bad, &verifier(&users, none)), Step::Failed(_)),
                "{bad:?}"
            );
        }
        let mut s = Exchange::start("SCRAM-SHA-512").unwrap();
        assert!(matches!(
            s.step(b"n,,n=nobody,r=abc", &verifier(&users, none)),
            Step::Failed(_)
        ));
        for bad in [
            &b""[..],
            b",,,",
            b"p=tls,,n=a,r=b",
            b"n,,n=a=,r=b",
            b"\xff\xfe",
            b"n,,r=x",
        ] {
            let mut s = Exchange::start("SCRAM-SHA-256").unwrap();
            assert!(
                matches!(s.step(bad, &verifier(&users, none)), Step::Failed(_)),
                "{bad:?}"
            );
        }
        // A refused OAUTHBEARER token gets the error challenge; the client's %x01 then
        // ends the exchange with the challenge as the failure's message.
        let mut o = Exchange::start("OAUTHBEARER").unwrap();
        let challenge = br#"{"status":"invalid_token"}"#.to_vec();
        assert_eq!(
            o.step(b"n,,\x01auth=Bearer x.y.z\x01\x01", &verifier(&users, none)),
            Step::Continue(challenge)
        );
        assert_eq!(
            o.step(b"\x01", &verifier(&users, none)),
            Step::Failed(r#"{"status":"invalid_token"}"#.into())
        );
        assert!(Exchange::start("GSSAPI").is_none());
        assert_eq!(unescape_name("a=2Cb=3Dc").unwrap(), "a,b=c");
    }
}
