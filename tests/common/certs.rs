//! Test certificates made with rcgen: a CA, and the server and client certificates it signs.

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

/// A CA and what it signs.
pub struct Ca {
    pub cert: Certificate,
    key: KeyPair,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().unwrap();
        let cert = p.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    /// A key and certificate chain PEM for `cn`, valid now (or expired): a server certificate
    /// for `server_names` (DNS names or IP addresses), or a client certificate when there are
    /// none.
    pub fn issue(&self, cn: &str, server_names: &[&str], expired: bool) -> String {
        let server = !server_names.is_empty();
        let names = server_names
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>();
        let mut p = CertificateParams::new(names).unwrap();
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![if server {
            ExtendedKeyUsagePurpose::ServerAuth
        } else {
            ExtendedKeyUsagePurpose::ClientAuth
        }];
        if expired {
            p.not_before = rcgen::date_time_ymd(2020, 1, 1);
            p.not_after = rcgen::date_time_ymd(2020, 2, 1);
        }
        let key = KeyPair::generate().unwrap();
        let cert = p.signed_by(&key, &self.cert, &self.key).unwrap();
        format!("{}{}", key.serialize_pem(), cert.pem())
    }
}
