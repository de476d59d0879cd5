//! TLS for both legs: the listening side's server config and the upstream client config.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use wiretape_fixtures::pki::{self, crypto_provider};

use crate::error::{Error, Phase, Side};

/// How to verify the upstream's certificate.
#[derive(Debug, Clone, Default)]
pub enum UpstreamTrust {
    /// The platform's roots and the Mozilla roots (webpki-roots), plus extra CA files.
    #[default]
    Verify,
    /// Like [`UpstreamTrust::Verify`] with additional CA certificates (PEM files).
    VerifyWith(Vec<std::path::PathBuf>),
    /// Only these roots (tests).
    Roots(RootCertStore),
    /// Accept any certificate (`--insecure-upstream`). Signatures are still checked, so the
    /// handshake is encrypted, but the upstream is not authenticated.
    Insecure,
}

/// Builds the client config for the upstream leg.
///
/// # Errors
/// When an extra CA file cannot be read.
pub fn upstream_client_config(trust: &UpstreamTrust) -> Result<Arc<ClientConfig>, Error> {
    let roots = match trust {
        UpstreamTrust::Verify => default_roots(),
        UpstreamTrust::VerifyWith(files) => {
            let mut roots = default_roots();
            for file in files {
                add_ca_file(&mut roots, file)?;
            }
            roots
        }
        UpstreamTrust::Roots(roots) => roots.clone(),
        UpstreamTrust::Insecure => {
            let provider = crypto_provider();
            let mut config = ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| Error::new(Side::Local, Phase::Config, e))?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            return Ok(Arc::new(config));
        }
    };
    Ok(pki::client_config(roots))
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

fn add_ca_file(roots: &mut RootCertStore, file: &Path) -> Result<(), Error> {
    let certs = pki::load_certs(file).map_err(|e| Error::new(Side::Local, Phase::Config, e))?;
    for cert in certs {
        roots
            .add(cert)
            .map_err(|e| Error::new(Side::Local, Phase::Config, e))?;
    }
    Ok(())
}

#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
