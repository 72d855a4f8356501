//! Who a connection is: the principal that authentication established, and the security
//! settings of the listener it came in on.

pub mod authz;

use std::cell::RefCell;

/// The principal of a connection that has not authenticated (a PLAINTEXT or SSL listener
/// without client certificates), as Kafka names it.
pub const ANONYMOUS: &str = "User:ANONYMOUS";

/// A connection's principal (`User:alice`); replaced when SASL authentication (or
/// re-authentication) succeeds.
#[derive(Debug)]
pub struct Identity {
    principal: RefCell<String>,
}

impl Default for Identity {
    fn default() -> Self {
        Identity {
            principal: RefCell::new(ANONYMOUS.to_string()),
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

    /// Authentication established `principal`.
    pub fn set_principal(&self, principal: String) {
        *self.principal.borrow_mut() = principal;
    }
}
