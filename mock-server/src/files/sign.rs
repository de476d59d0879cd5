//! Temporary URL signatures, as OpenStack Swift's `tempurl` middleware makes them (the storage
//! behind LivePerson's `/v1/AUTH_async-images/...` paths): the lower-case hex HMAC-SHA1 of
//! `"{METHOD}\n{expires}\n{path}"` under a secret key. That is why the captures show 40 hex
//! characters; here the key is per server, so a URL signed by one mock is refused by another.
//!
//! SHA-1 is what Swift (and so the captures' format) uses. It is only a MAC here, where SHA-1's
//! collision weakness does not apply; ring names it "for legacy use" for that reason.

use ring::hmac;

/// Signs and checks temporary URLs with one secret key.
pub(crate) struct Signer {
    key: hmac::Key,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a secret: never printed.
        f.write_str("Signer { .. }")
    }
}

/// Why a temporary URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Invalid {
    /// `temp_url_sig` or `temp_url_expires` is missing or malformed.
    Malformed(String),
    /// The signature does not match this method, expiry and path.
    Signature,
    /// The expiry (epoch seconds) has passed.
    Expired { expires: u64, now: u64 },
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Invalid::Malformed(what) => f.write_str(what),
            Invalid::Signature => {
                f.write_str("temp_url_sig does not match this method, path and temp_url_expires")
            }
            Invalid::Expired { expires, now } => write!(
                f,
                "temp_url_expires {expires} has passed (now {now}, {}s ago)",
                now - expires
            ),
        }
    }
}

impl Signer {
    /// A signer with a fresh random key: 32 bytes from the operating system's CSPRNG
    /// (through `uuid`'s v4 generator, which reads `getrandom`).
    pub(crate) fn random() -> Self {
        let mut secret = [0u8; 32];
        secret[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        secret[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        Self::with_key(&secret)
    }

    /// A signer with a fixed key (tests).
    pub(crate) fn with_key(secret: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret),
        }
    }

    /// The `temp_url_sig` for `method` on `path` until `expires` (epoch seconds).
    pub(crate) fn sign(&self, method: &str, expires: u64, path: &str) -> String {
        let tag = hmac::sign(&self.key, message(method, expires, path).as_bytes());
        hex(tag.as_ref())
    }

    /// Checks `temp_url_sig` and `temp_url_expires` (as sent, `None` when absent) for `method`
    /// on `path` at `now` (epoch seconds). The signature is compared in constant time. A URL
    /// is valid up to and including its expiry second, as in Swift (`expires < now` fails).
    pub(crate) fn verify(
        &self,
        method: &str,
        path: &str,
        (sig, expires): (Option<&str>, Option<&str>),
        now: u64,
    ) -> Result<(), Invalid> {
        let sig = sig.ok_or_else(|| Invalid::Malformed("temp_url_sig is missing".into()))?;
        let expires_text =
            expires.ok_or_else(|| Invalid::Malformed("temp_url_expires is missing".into()))?;
        let expires: u64 = expires_text
            .parse()
            .ok()
            .filter(|_| expires_text.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| {
                Invalid::Malformed(format!(
                    "temp_url_expires {:?} is not epoch seconds",
                    clip(expires_text)
                ))
            })?;
        let tag = unhex(sig).ok_or_else(|| {
            Invalid::Malformed(format!(
                "temp_url_sig {:?} is not 40 hex characters",
                clip(sig)
            ))
        })?;
        hmac::verify(&self.key, message(method, expires, path).as_bytes(), &tag)
            .map_err(|_| Invalid::Signature)?;
        if expires < now {
            return Err(Invalid::Expired { expires, now });
        }
        Ok(())
    }
}

fn message(method: &str, expires: u64, path: &str) -> String {
    format!("{method}\n{expires}\n{path}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 40 hex characters (either case) as 20 bytes.
fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 40 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// At most 48 characters of client text, for a message.
fn clip(text: &str) -> String {
    text.chars().take(48).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/v1/AUTH_async-images/12345678/8a66a22f-81ee-4447-b92f-78e9c3ecc819.PNG";

    #[test]
    fn signatures_are_swift_tempurl_hmac_sha1_hex() {
        // Swift's recipe, checked against an independent implementation (openssl).
        let signer = Signer::with_key(b"key");
        let sig = signer.sign("PUT", 1_474_973_420, PATH);
        assert_eq!(sig.len(), 40);
        assert!(sig
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_eq!(sig, EXPECTED_SIG);
    }

    /// `printf 'PUT\n1474973420\n<PATH>' | openssl dgst -sha1 -hmac key`.
    const EXPECTED_SIG: &str = "275b76527cf0dd0d6e87821592dd48fcea820188";

    #[test]
    fn a_signature_verifies_for_its_method_path_and_expiry_only() {
        let signer = Signer::with_key(b"secret");
        let sig = signer.sign("PUT", 2_000, PATH);
        let ok =
            |m: &str, p: &str, s: &str, e: &str, now| signer.verify(m, p, (Some(s), Some(e)), now);
        assert_eq!(ok("PUT", PATH, &sig, "2000", 1_999), Ok(()));
        assert_eq!(
            ok("PUT", PATH, &sig, "2000", 2_000),
            Ok(()),
            "valid through its second"
        );
        assert_eq!(
            ok("PUT", PATH, &sig.to_ascii_uppercase(), "2000", 2_000),
            Ok(()),
            "hex is case-insensitive"
        );
        assert_eq!(
            ok("PUT", PATH, &sig, "2000", 2_001),
            Err(Invalid::Expired {
                expires: 2_000,
                now: 2_001
            })
        );
        assert_eq!(ok("GET", PATH, &sig, "2000", 1), Err(Invalid::Signature));
        assert_eq!(
            ok("PUT", &PATH.replace("PNG", "GIF"), &sig, "2000", 1),
            Err(Invalid::Signature)
        );
        assert_eq!(
            ok("PUT", PATH, &sig, "2001", 1),
            Err(Invalid::Signature),
            "extended expiry"
        );
        let mut tampered = sig.clone().into_bytes();
        tampered[0] = if tampered[0] == b'0' { b'1' } else { b'0' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(
            ok("PUT", PATH, &tampered, "2000", 1),
            Err(Invalid::Signature)
        );
        let other = Signer::with_key(b"another server");
        assert_eq!(
            other.verify("PUT", PATH, (Some(&sig), Some("2000")), 1),
            Err(Invalid::Signature)
        );
    }

    #[test]
    fn malformed_parameters_are_named() {
        let signer = Signer::with_key(b"secret");
        let sig = signer.sign("GET", 5, PATH);
        for (params, expected) in [
            ((None, Some("5")), "temp_url_sig is missing"),
            ((Some(sig.as_str()), None), "temp_url_expires is missing"),
            ((Some(sig.as_str()), Some("-5")), "is not epoch seconds"),
            ((Some(sig.as_str()), Some("+5")), "is not epoch seconds"),
            ((Some("abc"), Some("5")), "is not 40 hex characters"),
            (
                (Some(&"é".repeat(20)), Some("5")),
                "is not 40 hex characters",
            ),
        ] {
            let err = signer.verify("GET", PATH, params, 0).unwrap_err();
            assert!(err.to_string().contains(expected), "{err} vs {expected}");
        }
    }
}
