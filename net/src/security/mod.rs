//! Who a connection is: the principal that authentication established, and the security
//! settings of the listener it came in on.

pub mod authz;
pub mod oauth;
pub mod sasl;
pub mod tls;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::time::Instant;

/// A listener's security protocol, with Kafka's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityProtocol {
    /// No TLS, no authentication.
    #[default]
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL without TLS.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Kafka's name.
    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Whether clients must authenticate with SASL.
    pub fn sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    /// Whether connections run over TLS.
    pub fn tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }
}

impl std::str::FromStr for SecurityProtocol {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "PLAINTEXT" => Ok(SecurityProtocol::Plaintext),
            "SSL" => Ok(SecurityProtocol::Ssl),
            "SASL_PLAINTEXT" => Ok(SecurityProtocol::SaslPlaintext),
            "SASL_SSL" => Ok(SecurityProtocol::SaslSsl),
            other => Err(format!("unknown security protocol {other}")),
        }
    }
}

/// SASL settings of one listener.
#[derive(Debug, Clone, Default)]
pub struct SaslConfig {
    /// `sasl.enabled.mechanisms`, in order.
    pub mechanisms: Vec<String>,
    /// PLAIN users and passwords (the `user_<name>="<password>"` entries of the PLAIN JAAS
    /// config).
    pub plain_users: BTreeMap<String, String>,
    /// `connections.max.reauth.ms`: 0 never expires a session (KIP-368).
    pub max_reauth_ms: i64,
    /// OAUTHBEARER's token checks, when the mechanism is enabled.
    pub oauth: Option<oauth::OauthConfig>,
}

/// The principal of a connection that has not authenticated (a PLAINTEXT or SSL listener
/// without client certificates), as Kafka names it.
pub const ANONYMOUS: &str = "User:ANONYMOUS";

/// A connection's principal (`User:alice`); replaced when SASL authentication (or
/// re-authentication) succeeds.
pub struct Identity {
    principal: RefCell<String>,
    /// Whether SASL authentication completed on this connection.
    authenticated: Cell<bool>,
    /// When the authenticated session ends (KIP-368), if it does.
    expires_at: Cell<Option<Instant>>,
    /// The SASL exchange in progress, after a SaslHandshake.
    pub(crate) exchange: RefCell<Option<sasl::Exchange>>,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            principal: RefCell::new(ANONYMOUS.to_string()),
            authenticated: Cell::new(false),
            expires_at: Cell::new(None),
            exchange: RefCell::new(None),
        }
    }
}

impl Identity {
    /// The principal, `Type:name`.
    pub fn principal(&self) -> String {
        self.principal.borrow().clone()
    }

    /// Runs `f` on the principal without copying it.
    pub fn with_principal<R>(&self, f: impl FnOnce(&str) -> R) -> R {
        f(&self.principal.borrow())
    }

    /// Authentication established `principal`, for a session that ends at `expires_at`.
    pub fn authenticated_as(&self, principal: String, expires_at: Option<Instant>) {
        *self.principal.borrow_mut() = principal;
        self.authenticated.set(true);
        self.expires_at.set(expires_at);
    }

    /// A verified client certificate named `principal` (SSL listeners; SASL replaces it).
    pub fn certificate_principal(&self, principal: String) {
        *self.principal.borrow_mut() = principal;
    }

    /// Whether SASL authentication completed (re-authentication keeps it so).
    pub fn is_authenticated(&self) -> bool {
        self.authenticated.get()
    }

    /// Whether an authenticated session has outlived `connections.max.reauth.ms` without
    /// re-authenticating.
    pub fn expired(&self, now: Instant) -> bool {
        self.expires_at.get().is_some_and(|at| now >= at)
    }
}
