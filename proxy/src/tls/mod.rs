//! TLS for the upstream leg: which certificates the proxy trusts, and what it says when it
//! refuses one.
//!
//! - [`upstream_client_config`] builds the client config from an [`UpstreamTrust`].
//! - `verifier`: webpki verification with the trusted roots, plus *pinning*: a certificate
//!   given in a CA file is accepted when the upstream presents exactly that certificate, the
//!   way `openssl req -x509` self-signed certificates are trusted by wscat, curl and Node.
//! - [`problem`]: [`CertProblem`], why a certificate was refused, in plain words.

pub mod problem;
mod verifier;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use wiretape_fixtures::pki::{self, crypto_provider};

use crate::error::{Error, Phase, Side};
pub use problem::{CertProblem, UpstreamCertError};
use verifier::Verifier;

/// How to verify the upstream's certificate.
#[derive(Debug, Clone, Default)]
pub enum UpstreamTrust {
    /// The platform's roots and the Mozilla roots (webpki-roots), plus extra CA files.
    #[default]
    Verify,
    /// Like [`UpstreamTrust::Verify`] with additional certificates (PEM files): each is
    /// trusted as a CA, and also *pinned*: an upstream presenting exactly that certificate is
    /// accepted even when it is self-signed or marked as a CA (its handshake signature and,
    /// for the host name, its subjectAltNames are still checked).
    VerifyWith(Vec<PathBuf>),
    /// Only these roots (tests).
    Roots(RootCertStore),
    /// Accept any certificate. Signatures are still checked, so the handshake is encrypted,
    /// but the upstream is not authenticated.
    Insecure,
}

/// Builds the client config for the upstream leg.
///
/// # Errors
/// When an extra CA file cannot be read or holds no usable certificate.
pub fn upstream_client_config(trust: &UpstreamTrust) -> Result<Arc<ClientConfig>, Error> {
    let provider = crypto_provider();
    let (roots, pinned) = match trust {
        UpstreamTrust::Verify => (default_roots(), Vec::new()),
        UpstreamTrust::VerifyWith(files) => {
            let mut roots = default_roots();
            let mut pinned = Vec::new();
            for file in files {
                pinned.extend(add_ca_file(&mut roots, file)?);
            }
            (roots, pinned)
        }
        UpstreamTrust::Roots(roots) => (roots.clone(), Vec::new()),
        UpstreamTrust::Insecure => {
            return with_verifier(Arc::new(Verifier::accepting_any(provider)));
        }
    };
    let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| Error::new(Side::Local, Phase::Config, e))?;
    with_verifier(Arc::new(Verifier::pinning(webpki, pinned, provider)))
}

/// A client config (safe defaults, `http/1.1` over ALPN) verifying with `verifier`.
fn with_verifier(verifier: Arc<Verifier>) -> Result<Arc<ClientConfig>, Error> {
    let mut config = ClientConfig::builder_with_provider(crypto_provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::new(Side::Local, Phase::Config, e))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn default_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // Platform stores hold the odd certificate rustls cannot use; skip those.
        let _ = roots.add(cert);
    }
    roots
}

/// Adds the certificates of `file` to `roots` and returns them, to be pinned too.
fn add_ca_file(
    roots: &mut RootCertStore,
    file: &Path,
) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = pki::load_certs(file).map_err(|e| Error::new(Side::Local, Phase::Config, e))?;
    for cert in &certs {
        roots
            .add(cert.clone())
            .map_err(|e| Error::new(Side::Local, Phase::Config, e))?;
    }
    Ok(certs)
}
