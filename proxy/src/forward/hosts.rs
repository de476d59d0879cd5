//! `--hosts PATTERN`: which `CONNECT`s a forward proxy intercepts.
//!
//! A pattern is a host glob, optionally with a port: `*.liveperson.net` matches
//! `va.msg.liveperson.net` on any port (not `liveperson.net` itself), `127.0.0.1:8443` only
//! that port, `*:443` any host on 443. `*` matches any run of characters (dots included), `?`
//! one character; hosts compare case-insensitively; an IPv6 host is written in brackets
//! (`[::1]:443`).

use std::fmt;

/// One `--hosts` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    host: String,
    /// `None`: any port.
    port: Option<u16>,
}

impl HostPattern {
    /// Parses `HOST` or `HOST:PORT` (a glob in the host, an exact port).
    ///
    /// # Errors
    /// When the pattern is empty or its port is not a number.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let pattern = pattern.trim();
        let (host, port) = if let Some(rest) = pattern.strip_prefix('[') {
            // [v6] or [v6]:port
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| format!("{pattern:?}: an IPv6 host needs its closing ']'"))?;
            (host, after.strip_prefix(':'))
        } else {
            match pattern.rsplit_once(':') {
                Some((host, port)) if !host.contains(':') => (host, Some(port)),
                _ => (pattern, None),
            }
        };
        if host.is_empty() {
            return Err(format!("{pattern:?} names no host (use * for any host)"));
        }
        let port = port
            .map(|p| {
                p.parse::<u16>()
                    .map_err(|_| format!("{pattern:?}: the port {p:?} is not a number"))
            })
            .transpose()?;
        Ok(Self {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    /// Whether a `CONNECT host:port` (or an absolute-form request to it) matches.
    pub fn matches(&self, host: &str, port: u16) -> bool {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        self.port.is_none_or(|p| p == port) && glob(self.host.as_bytes(), host.as_bytes())
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(port) => write!(f, "{host}:{port}"),
            None => f.write_str(&host),
        }
    }
}

/// `*` any run, `?` one byte, anything else itself (iterative, with one backtrack point).
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == b'?' || c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_globs_with_and_without_ports() {
        let lp = HostPattern::parse("*.LivePerson.net").unwrap();
        assert!(lp.matches("va.msg.liveperson.net", 443));
        assert!(lp.matches("lo.agentvep.liveperson.net", 8443));
        assert!(!lp.matches("liveperson.net", 443));
        assert!(!lp.matches("liveperson.net.evil.example", 443));
        let exact = HostPattern::parse("127.0.0.1:8443").unwrap();
        assert!(exact.matches("127.0.0.1", 8443));
        assert!(!exact.matches("127.0.0.1", 443));
        assert!(HostPattern::parse("*:443").unwrap().matches("a.b", 443));
        assert!(HostPattern::parse("?.b").unwrap().matches("a.b", 1));
        let v6 = HostPattern::parse("[::1]:443").unwrap();
        assert!(v6.matches("[::1]", 443) && v6.matches("::1", 443));
        assert_eq!(v6.to_string(), "[::1]:443");
        assert!(HostPattern::parse("a:x").is_err());
        assert!(HostPattern::parse(":443").is_err());
    }
}
