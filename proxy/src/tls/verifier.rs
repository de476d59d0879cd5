//! The upstream's certificate verifier: webpki plus pinned certificates, or (for
//! [`super::UpstreamTrust::Insecure`]) no check of the certificate at all.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{verify_server_name, WebPkiServerVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::server::ParsedCertificate;
use rustls::{CertificateError, DigitallySignedStruct, OtherError, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::problem::CertProblem;

/// How the upstream's certificate is checked. Either way the handshake signature is verified
/// with the provider's algorithms, so the connection is encrypted to whoever holds the key.
#[derive(Debug)]
pub(super) struct Verifier {
    check: Check,
    provider: Arc<CryptoProvider>,
}

#[derive(Debug)]
enum Check {
    /// webpki verification with the trusted roots, except for a pinned certificate: when the
    /// upstream presents a certificate byte-identical to one given in a CA file, it is
    /// accepted without a chain (so a self-signed certificate, even one marked as a CA, can
    /// be trusted by giving it), but its host names are still checked.
    Pinning {
        webpki: Arc<WebPkiServerVerifier>,
        pinned: Vec<CertificateDer<'static>>,
    },
    /// Any certificate: the upstream is not authenticated.
    Anything,
}

impl Verifier {
    /// webpki with `pinned` certificates accepted as themselves.
    pub(super) fn pinning(
        webpki: Arc<WebPkiServerVerifier>,
        pinned: Vec<CertificateDer<'static>>,
        provider: Arc<CryptoProvider>,
    ) -> Self {
        Self {
            check: Check::Pinning { webpki, pinned },
            provider,
        }
    }

    /// No check of the certificate.
    pub(super) fn accepting_any(provider: Arc<CryptoProvider>) -> Self {
        Self {
            check: Check::Anything,
            provider,
        }
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Check::Pinning { webpki, pinned } = &self.check else {
            return Ok(ServerCertVerified::assertion());
        };
        if pinned.iter().any(|pin| pin.as_ref() == end_entity.as_ref()) {
            verify_server_name(&ParsedCertificate::try_from(end_entity)?, server_name)?;
            return Ok(ServerCertVerified::assertion());
        }
        webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            .map_err(|err| typed(err, end_entity))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// rustls reports a CA certificate used as the server's as an opaque webpki error; give it
/// a [`CertProblem`] (found again by [`super::problem::explain`]) saying whether it is
/// self-signed, which is what decides the advice.
fn typed(err: rustls::Error, end_entity: &CertificateDer<'_>) -> rustls::Error {
    if let rustls::Error::InvalidCertificate(CertificateError::Other(other)) = &err {
        if let Some(webpki::Error::CaUsedAsEndEntity) = other.0.downcast_ref::<webpki::Error>() {
            let problem = CertProblem::CaUsedAsEndEntity {
                self_signed: is_self_issued(end_entity),
            };
            return CertificateError::Other(OtherError(Arc::new(problem))).into();
        }
    }
    err
}

/// Whether a certificate names itself as its issuer (issuer and subject DER-identical): a
/// few lines of DER walking, so no X.509 parser is needed for one comparison.
fn is_self_issued(cert: &[u8]) -> bool {
    /// Splits the DER element at the start of `der` into (its whole bytes, its content, rest).
    fn element(der: &[u8]) -> Option<(&[u8], &[u8], &[u8])> {
        let first = *der.get(1)?;
        let (len, header) = if first < 0x80 {
            (usize::from(first), 2)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return None;
            }
            let len = der
                .get(2..2 + n)?
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
            (len, 2 + n)
        };
        let end = header.checked_add(len)?;
        Some((der.get(..end)?, der.get(header..end)?, der.get(end..)?))
    }
    let names = || -> Option<bool> {
        let (_, certificate, _) = element(cert)?;
        let (_, tbs, _) = element(certificate)?;
        // TBSCertificate: [0] version (optional), serial, signature algorithm, issuer,
        // validity, subject, ...
        let mut rest = tbs;
        if rest.first() == Some(&0xa0) {
            rest = element(rest)?.2;
        }
        let (_, _, rest) = element(rest)?; // serial
        let (_, _, rest) = element(rest)?; // signature algorithm
        let (issuer, _, rest) = element(rest)?;
        let (_, _, rest) = element(rest)?; // validity
        let (subject, _, _) = element(rest)?;
        Some(issuer == subject)
    };
    names().unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use wiretape_fixtures::pki::LocalCa;

    #[test]
    fn self_issued_certificates_are_told_from_issued_ones() {
        let ca = LocalCa::generate().unwrap();
        assert!(is_self_issued(ca.cert_der()));
        let leaf = ca.issue_leaf(&["localhost"]).unwrap();
        assert!(!is_self_issued(&leaf.chain[0]));
        assert!(!is_self_issued(b"\x30\x03\x02\x01"));
    }
}
