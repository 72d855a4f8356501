//! TLS listeners: rustls on the shard's own connection, with Kafka's PEM settings.
//!
//! * `ssl.keystore.location` is a PEM file holding the private key (PKCS#8, PKCS#1 or SEC1;
//!   an encrypted PKCS#8 key takes `ssl.key.password`) and the certificate chain, leaf first.
//! * `ssl.truststore.location` holds the CA certificates that client certificates must chain
//!   to; `ssl.client.auth` is `none`, `requested` or `required`.
//! * Both files are checked for changes every [`RELOAD_CHECK`] and reloaded when they change;
//!   a file that no longer loads is reported and the previous configuration stays.
//! * With a client certificate on an SSL listener the principal is `User:` and the
//!   certificate's subject as RFC 2253 writes it (`CN=alice,O=Payments`), Kafka's default
//!   principal mapping.

use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::cell::{Cell, RefCell};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// How often the key and trust files are checked for changes.
pub const RELOAD_CHECK: Duration = Duration::from_secs(5);

/// Kafka's `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ClientAuth {
    /// No client certificate is asked for.
    #[default]
    None,
    /// A client certificate is asked for; one that is sent must verify.
    Requested,
    /// A verified client certificate is required.
    Required,
}

impl std::str::FromStr for ClientAuth {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Ok(ClientAuth::None),
            "requested" => Ok(ClientAuth::Requested),
            "required" => Ok(ClientAuth::Required),
            other => Err(format!(
                "ssl.client.auth {other:?}: expected none, requested or required"
            )),
        }
    }
}

/// A TLS listener's files and settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsConfig {
    /// `ssl.keystore.location`: key and certificate chain, PEM.
    pub keystore: PathBuf,
    /// `ssl.key.password`, for an encrypted PKCS#8 key.
    pub key_password: Option<String>,
    /// `ssl.truststore.location`: CA certificates for client certificates, PEM.
    pub truststore: Option<PathBuf>,
    /// `ssl.client.auth`.
    pub client_auth: ClientAuth,
}

/// Builds the rustls configuration from the files; every problem is one readable message.
pub fn server_config(c: &TlsConfig) -> Result<Arc<rustls::ServerConfig>, String> {
    let pem = std::fs::read(&c.keystore)
        .map_err(|e| format!("ssl.keystore.location {}: {e}", c.keystore.display()))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: certificates: {e}", c.keystore.display()))?;
    if chain.is_empty() {
        return Err(format!("{}: no certificate", c.keystore.display()));
    }
    let key = private_key(&pem, c.key_password.as_deref())
        .map_err(|e| format!("{}: {e}", c.keystore.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS versions: {e}"))?;
    let builder = match (&c.truststore, c.client_auth) {
        (_, ClientAuth::None) => builder.with_no_client_auth(),
        (None, _) => {
            return Err("ssl.client.auth asks for client certificates: set \
                        ssl.truststore.location"
                .into())
        }
        (Some(path), auth) => {
            let roots = trust_roots(path)?;
            let verifier =
                WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone());
            let verifier = if auth == ClientAuth::Requested {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(
                verifier
                    .build()
                    .map_err(|e| format!("{}: {e}", path.display()))?,
            )
        }
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("{}: {e}", c.keystore.display()))?;
    Ok(Arc::new(config))
}

fn trust_roots(path: &Path) -> Result<rustls::RootCertStore, String> {
    let pem = std::fs::read(path)
        .map_err(|e| format!("ssl.truststore.location {}: {e}", path.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| format!("{}: {e}", path.display()))?;
        roots
            .add(cert)
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if roots.is_empty() {
        return Err(format!("{}: no certificate", path.display()));
    }
    Ok(roots)
}

/// The key of a PEM keystore: plain (PKCS#8, PKCS#1, SEC1) or encrypted PKCS#8.
fn private_key(pem: &[u8], password: Option<&str>) -> Result<PrivateKeyDer<'static>, String> {
    const BEGIN: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----";
    const END: &str = "-----END ENCRYPTED PRIVATE KEY-----";
    let text = String::from_utf8_lossy(pem);
    if let Some((_, rest)) = text.split_once(BEGIN) {
        let Some((body, _)) = rest.split_once(END) else {
            return Err("unterminated encrypted private key".into());
        };
        let Some(password) = password else {
            return Err("the private key is encrypted: set ssl.key.password".into());
        };
        use base64::Engine as _;
        let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
        let der = base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map_err(|e| format!("encrypted private key: {e}"))?;
        let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice())
            .map_err(|e| format!("encrypted private key: {e}"))?;
        let plain = info
            .decrypt(password)
            .map_err(|_| "the private key does not decrypt with ssl.key.password".to_string())?;
        return Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            plain.as_bytes().to_vec(),
        )));
    }
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| format!("private key: {e}"))
}

/// The principal of a client certificate: `User:` and its subject in RFC 2253 form.
pub fn principal_of(cert: &CertificateDer<'_>) -> Option<String> {
    let (_, parsed) = x509_parser::parse_x509_certificate(cert.as_ref()).ok()?;
    Some(format!("User:{}", rfc2253(parsed.subject())))
}

/// An X.500 name as RFC 2253 (and Java's `X500Principal.getName()`) writes it: the last RDN
/// first, attributes by their short names, values escaped.
fn rfc2253(name: &x509_parser::x509::X509Name<'_>) -> String {
    let rdns: Vec<String> = name
        .iter_rdn()
        .map(|rdn| {
            let parts: Vec<String> = rdn
                .iter()
                .map(|atv| {
                    let oid = atv.attr_type().to_id_string();
                    let short = match oid.as_str() {
                        "2.5.4.3" => Some("CN"),
                        "2.5.4.6" => Some("C"),
                        "2.5.4.7" => Some("L"),
                        "2.5.4.8" => Some("ST"),
                        "2.5.4.9" => Some("STREET"),
                        "2.5.4.10" => Some("O"),
                        "2.5.4.11" => Some("OU"),
                        "0.9.2342.19200300.100.1.25" => Some("DC"),
                        "0.9.2342.19200300.100.1.1" => Some("UID"),
                        _ => None,
                    };
                    match (short, atv.as_str()) {
                        (Some(s), Ok(v)) => format!("{s}={}", escape(v)),
                        _ => {
                            let hex: String = atv
                                .attr_value()
                                .data
                                .iter()
                                .map(|b| format!("{b:02x}"))
                                .collect();
                            format!("{oid}=#{hex}")
                        }
                    }
                })
                .collect();
            parts.join("+")
        })
        .collect();
    rdns.into_iter().rev().collect::<Vec<_>>().join(",")
}

fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The TLS configuration of one listener on one shard, reloaded when its files change.
pub struct Reloading {
    config: TlsConfig,
    current: RefCell<Arc<rustls::ServerConfig>>,
    stamps: RefCell<Vec<Option<SystemTime>>>,
    checked: Cell<Instant>,
}

impl Reloading {
    /// Loads the files.
    pub fn new(config: TlsConfig) -> Result<Reloading, String> {
        let current = server_config(&config)?;
        let stamps = stamps(&config);
        Ok(Reloading {
            config,
            current: RefCell::new(current),
            stamps: RefCell::new(stamps),
            checked: Cell::new(Instant::now()),
        })
    }

    /// The acceptor for a new connection, after reloading changed files (checked at most
    /// every [`RELOAD_CHECK`]; a check is two `stat`s).
    pub fn acceptor(&self) -> futures_rustls::TlsAcceptor {
        if self.checked.get().elapsed() >= RELOAD_CHECK {
            self.checked.set(Instant::now());
            let now = stamps(&self.config);
            if now != *self.stamps.borrow() {
                match server_config(&self.config) {
                    Ok(c) => {
                        tracing::info!(keystore = %self.config.keystore.display(), "TLS files reloaded");
                        *self.current.borrow_mut() = c;
                        *self.stamps.borrow_mut() = now;
                    }
                    Err(e) => tracing::warn!(
                        "TLS files changed but do not load, keeping the previous ones: {e}"
                    ),
                }
            }
        }
        futures_rustls::TlsAcceptor::from(self.current.borrow().clone())
    }
}

fn stamps(c: &TlsConfig) -> Vec<Option<SystemTime>> {
    std::iter::once(&c.keystore)
        .chain(c.truststore.as_ref())
        .map(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_read_as_rfc2253() {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CountryName, "US");
        dn.push(rcgen::DnType::OrganizationName, "Pay, Inc");
        dn.push(rcgen::DnType::CommonName, "alice");
        params.distinguished_name = dn;
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(
            principal_of(cert.der()).unwrap(),
            "User:CN=alice,O=Pay\\, Inc,C=US"
        );
    }

    /// A key and a self-signed certificate for `localhost`.
    fn self_signed() -> (rcgen::KeyPair, rcgen::Certificate) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        (key, cert)
    }

    #[test]
    fn keystores_load_and_bad_ones_say_why() {
        let dir = std::env::temp_dir().join(format!("myelin-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (key, cert) = self_signed();
        let store = dir.join("store.pem");
        std::fs::write(&store, format!("{}{}", key.serialize_pem(), cert.pem())).unwrap();
        let mut c = TlsConfig {
            keystore: store.clone(),
            key_password: None,
            truststore: None,
            client_auth: ClientAuth::None,
        };
        assert!(server_config(&c).is_ok());
        c.client_auth = ClientAuth::Required;
        assert!(server_config(&c).unwrap_err().contains("truststore"));
        c.truststore = Some(store.clone());
        assert!(server_config(&c).is_ok());
        std::fs::write(&store, cert.pem()).unwrap();
        assert!(server_config(&c).unwrap_err().contains("private key"));
        std::fs::write(&store, "garbage").unwrap();
        assert!(server_config(&c).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_encrypted_key_needs_its_password() {
        use pkcs8::der::pem::PemLabel;
        let dir = std::env::temp_dir().join(format!("myelin-tls-enc-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (key, cert) = self_signed();
        // PBES2 (PBKDF2-SHA256, AES-256-CBC), as `openssl pkcs8 -topk8 -v2 aes-256-cbc` writes.
        let params = pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(
            2048,
            b"saltsalt",
            b"0123456789abcdef",
        )
        .unwrap();
        let der = key.serialize_der();
        let encrypted = pkcs8::PrivateKeyInfo::try_from(der.as_slice())
            .unwrap()
            .encrypt_with_params(params, "key-secret")
            .unwrap();
        let pem = encrypted
            .to_pem(
                pkcs8::EncryptedPrivateKeyInfo::PEM_LABEL,
                pkcs8::LineEnding::LF,
            )
            .unwrap();
        let store = dir.join("store.pem");
        std::fs::write(&store, format!("{}{}", pem.as_str(), cert.pem())).unwrap();
        let mut c = TlsConfig {
            keystore: store,
            key_password: None,
            truststore: None,
            client_auth: ClientAuth::None,
        };
        assert!(server_config(&c).unwrap_err().contains("ssl.key.password"));
        c.key_password = Some("wrong".into());
        assert!(server_config(&c).unwrap_err().contains("does not decrypt"));
        c.key_password = Some("key-secret".into());
        assert!(server_config(&c).is_ok());
        // The decrypted key is the original.
        let loaded = private_key(&std::fs::read(&c.keystore).unwrap(), Some("key-secret")).unwrap();
        assert_eq!(loaded.secret_der(), der.as_slice());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
