//! The leaf certificates a forward proxy shows inside each intercepted `CONNECT`: one per host,
//! signed by wiretape's CA, issued on first use and kept in a bounded cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use rustls::ServerConfig;
use wiretape_fixtures::pki::{LocalCa, PkiError};

/// Hosts whose leaves are kept; past that, one is forgotten for each new one (re-issued if it
/// comes back: a few milliseconds).
const CAPACITY: usize = 1024;

/// Server configurations per host, each with a leaf of the CA for exactly that host.
pub(crate) struct Leaves {
    ca: LocalCa,
    capacity: usize,
    /// Held only to look up or insert, never while signing.
    cache: Mutex<HashMap<String, Arc<ServerConfig>>>,
}

impl std::fmt::Debug for Leaves {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leaves").field("ca", &self.ca).finish()
    }
}

impl Leaves {
    pub(crate) fn new(ca: LocalCa) -> Self {
        Self::with_capacity(ca, CAPACITY)
    }

    fn with_capacity(ca: LocalCa, capacity: usize) -> Self {
        Self {
            ca,
            capacity,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The server configuration for `host` (a DNS name, or an IP address for an IP SAN).
    pub(crate) fn for_host(&self, host: &str) -> Result<Arc<ServerConfig>, PkiError> {
        let host = host.to_ascii_lowercase();
        if let Some(found) = self.lock().get(&host) {
            return Ok(found.clone());
        }
        let config = self.ca.leaf_for_host(&host)?.server_config()?;
        let mut cache = self.lock();
        if cache.len() >= self.capacity && !cache.contains_key(&host) {
            if let Some(evicted) = cache.keys().next().cloned() {
                cache.remove(&evicted);
            }
        }
        Ok(cache.entry(host).or_insert(config).clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<ServerConfig>>> {
        // A panic while holding it cannot leave the map inconsistent: keep using it.
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_leaf_per_host_issued_once_and_the_cache_stays_bounded() {
        let leaves = Leaves::with_capacity(LocalCa::generate().unwrap(), 8);
        let a = leaves.for_host("Example.test").unwrap();
        let b = leaves.for_host("example.test").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        leaves.for_host("127.0.0.1").unwrap();
        assert_eq!(leaves.len(), 2);
        for i in 0..12 {
            leaves.for_host(&format!("h{i}.test")).unwrap();
        }
        assert_eq!(leaves.len(), 8);
    }
}
