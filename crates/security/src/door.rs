//! What one listener (an HTTP or WebSocket door) enforces: TLS, and whether
//! senders must authenticate. The outcome travels in the request primitive
//! as [`Authentication`]; the core decides what it allows.

use std::sync::Arc;

use urbis_model::{Authentication, CseError, Rsc};

use crate::tls::TlsAcceptor;
use crate::{Verified, Verifier};

#[derive(Clone, Default)]
pub struct Door {
    /// TLS on the listener; `None` = plain TCP.
    pub tls: Option<TlsAcceptor>,
    /// Credentials to check; `None` = the door does not authenticate.
    pub verifier: Option<Arc<Verifier>>,
}

/// Who a sender proved to be, if anyone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sender {
    pub authentication: Authentication,
    /// The credential that proved it (rechecked on long-lived connections).
    pub credential_id: Option<String>,
}

impl Door {
    /// Check what a sender presented: an `Authorization` header value and a
    /// client certificate (already verified by TLS against the client CA).
    /// A credential that does not verify is refused here (4107), so that a
    /// wrong password is never mistaken for no password.
    pub async fn authenticate(
        &self,
        authorization: Option<&str>,
        certificate: Option<&[u8]>,
    ) -> Result<Sender, CseError> {
        let Some(verifier) = &self.verifier else {
            return Ok(Sender {
                authentication: Authentication::Unchecked,
                credential_id: None,
            });
        };
        let verified = match (authorization, certificate) {
            (Some(header), _) => verifier.authorization(header).await,
            (None, Some(der)) => verifier.certificate(der),
            (None, None) => {
                return Ok(Sender {
                    authentication: Authentication::Missing,
                    credential_id: None,
                })
            }
        };
        match verified {
            Ok(Verified {
                originator,
                credential_id,
            }) => Ok(Sender {
                authentication: Authentication::Verified(originator),
                credential_id: Some(credential_id),
            }),
            Err(failure) => {
                // audited by the door's binding, which knows the claimed
                // originator and the address (urbis_core::audit)
                tracing::debug!(reason = %failure, "credentials refused");
                Err(CseError::new(
                    Rsc::SecurityAssociationRequired,
                    format!("authentication failed: {failure}"),
                ))
            }
        }
    }
}
