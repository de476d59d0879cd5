//! Why the upstream's certificate was refused, as a person would say it.
//!
//! rustls reports certificate failures with its own types, some of which print as Rust
//! debug values (`Other(OtherError(CaUsedAsEndEntity))`). [`explain`] turns a failed
//! upstream handshake into an [`UpstreamCertError`] whose `Display` is a plain sentence; the
//! [`CertProblem`] inside lets a caller add advice of its own (the command line names its
//! flags, the library does not).

use std::fmt;
use std::time::Duration;

use rustls::CertificateError;

/// What is wrong with the upstream's certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CertProblem {
    /// It is not signed by any trusted authority.
    UnknownIssuer,
    /// It is marked as a CA (basicConstraints CA:TRUE) but served as the server's own;
    /// `self_signed` when it signed itself, as `openssl req -x509` certificates do.
    CaUsedAsEndEntity {
        /// Whether its issuer is itself.
        self_signed: bool,
    },
    /// Its validity period is over; `ago` says since when, if known.
    Expired {
        /// Time since it expired.
        ago: Option<Duration>,
    },
    /// Its validity period has not begun.
    NotValidYet,
    /// It does not name the host the proxy dialled.
    NotValidForName {
        /// The names it is valid for.
        presented: Vec<String>,
    },
    /// It was revoked.
    Revoked,
    /// Its extended key usage does not allow a server.
    NotForServers,
    /// Its signature does not verify, or uses an unsupported algorithm.
    BadSignature,
    /// It cannot be parsed.
    BadEncoding,
    /// Anything else, in rustls' words.
    Other(String),
}

impl std::error::Error for CertProblem {}

impl fmt::Display for CertProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CertProblem::UnknownIssuer => f.write_str("is not signed by a trusted authority"),
            CertProblem::CaUsedAsEndEntity { self_signed: true } => {
                f.write_str("is self-signed and marked as a CA")
            }
            CertProblem::CaUsedAsEndEntity { self_signed: false } => {
                f.write_str("is a CA certificate, not a server certificate")
            }
            CertProblem::Expired { ago: None } => f.write_str("has expired"),
            CertProblem::Expired { ago: Some(ago) } => {
                write!(f, "has expired ({} ago)", human(*ago))
            }
            CertProblem::NotValidYet => f.write_str("is not valid yet"),
            CertProblem::NotValidForName { presented } => {
                write!(f, "is not valid for this host {}", for_names(presented))
            }
            CertProblem::Revoked => f.write_str("has been revoked"),
            CertProblem::NotForServers => f.write_str("is not meant for a server"),
            CertProblem::BadSignature => f.write_str("has a signature that does not verify"),
            CertProblem::BadEncoding => f.write_str("is malformed"),
            CertProblem::Other(what) => write!(f, "was refused: {what}"),
        }
    }
}

/// The upstream's certificate was refused: `upstream certificate for HOST is ...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamCertError {
    /// The host the proxy dialled.
    pub host: String,
    /// What is wrong.
    pub problem: CertProblem,
}

impl std::error::Error for UpstreamCertError {}

impl fmt::Display for UpstreamCertError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.problem {
            CertProblem::NotValidForName { presented } => write!(
                f,
                "upstream certificate is not valid for name {} {}",
                self.host,
                for_names(presented)
            ),
            problem => write!(f, "upstream certificate for {} {problem}", self.host),
        }
    }
}

/// The error of a failed TLS handshake with `host`: an [`UpstreamCertError`] when the
/// certificate was refused, the I/O error as it is otherwise.
pub(crate) fn explain(host: &str, err: std::io::Error) -> Box<dyn std::error::Error + Send + Sync> {
    let problem = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .and_then(|tls| match tls {
            rustls::Error::InvalidCertificate(cert) => Some(problem(cert)),
            _ => None,
        });
    match problem {
        Some(problem) => Box::new(UpstreamCertError {
            host: host.to_owned(),
            problem,
        }),
        None => Box::new(err),
    }
}

fn problem(err: &CertificateError) -> CertProblem {
    use CertificateError as E;
    match err {
        E::UnknownIssuer => CertProblem::UnknownIssuer,
        E::Expired => CertProblem::Expired { ago: None },
        E::ExpiredContext { time, not_after } => CertProblem::Expired {
            ago: Some(Duration::from_secs(
                time.as_secs().saturating_sub(not_after.as_secs()),
            )),
        },
        E::NotValidYet | E::NotValidYetContext { .. } => CertProblem::NotValidYet,
        E::NotValidForName => CertProblem::NotValidForName {
            presented: Vec::new(),
        },
        E::NotValidForNameContext { presented, .. } => CertProblem::NotValidForName {
            presented: presented.iter().map(|name| plain_name(name)).collect(),
        },
        E::Revoked => CertProblem::Revoked,
        E::InvalidPurpose | E::InvalidPurposeContext { .. } => CertProblem::NotForServers,
        E::BadEncoding => CertProblem::BadEncoding,
        #[allow(deprecated)]
        E::BadSignature
        | E::UnsupportedSignatureAlgorithm
        | E::UnsupportedSignatureAlgorithmContext { .. }
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => CertProblem::BadSignature,
        E::Other(other) => match other.0.downcast_ref::<CertProblem>() {
            Some(problem) => problem.clone(),
            None => CertProblem::Other(other.0.to_string()),
        },
        other => CertProblem::Other(other.to_string()),
    }
}

/// `(it is for a.example, 10.0.0.1)`, or `(it names no host)`.
fn for_names(presented: &[String]) -> String {
    if presented.is_empty() {
        "(it names no host)".to_owned()
    } else {
        format!("(it is for {})", presented.join(", "))
    }
}

/// `DnsName("a.example")` and `IpAddress(127.0.0.1)` (how webpki lists names) as `a.example`
/// and `127.0.0.1`.
fn plain_name(name: &str) -> String {
    for prefix in ["DnsName(\"", "UniformResourceIdentifier(\""] {
        if let Some(inner) = name
            .strip_prefix(prefix)
            .and_then(|n| n.strip_suffix("\")"))
        {
            return inner.to_owned();
        }
    }
    name.strip_prefix("IpAddress(")
        .and_then(|n| n.strip_suffix(')'))
        .unwrap_or(name)
        .to_owned()
}

/// `3 days`, `5 hours`, `42 seconds`.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (n, unit) = match s {
        0..=119 => (s, "second"),
        120..=7199 => (s / 60, "minute"),
        7200..=172_799 => (s / 3600, "hour"),
        _ => (s / 86_400, "day"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problems_read_as_sentences() {
        let err = |problem| {
            UpstreamCertError {
                host: "127.0.0.1".into(),
                problem,
            }
            .to_string()
        };
        assert_eq!(
            err(CertProblem::CaUsedAsEndEntity { self_signed: true }),
            "upstream certificate for 127.0.0.1 is self-signed and marked as a CA"
        );
        assert_eq!(
            err(problem(&CertificateError::NotValidForNameContext {
                expected: rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap(),
                presented: vec!["DnsName(\"wrong.example\")".into(), "IpAddress(10.0.0.1)".into()],
            })),
            "upstream certificate is not valid for name 127.0.0.1 (it is for wrong.example, 10.0.0.1)"
        );
        assert_eq!(
            err(CertProblem::Expired {
                ago: Some(Duration::from_secs(3 * 86_400 + 5))
            }),
            "upstream certificate for 127.0.0.1 has expired (3 days ago)"
        );
        assert_eq!(
            err(problem(&CertificateError::UnknownIssuer)),
            "upstream certificate for 127.0.0.1 is not signed by a trusted authority"
        );
    }
}
