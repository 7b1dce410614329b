//! Datapaths by name: create, open, destroy (what `dpctl/add-dp` and
//! `dpctl/del-dp` do, and how bridges find their shared datapath).

use crate::dpif::DpifError;
use crate::dpif_netdev::{DpClass, DpConfig, DpNetdev};
use crate::netdev::NetdevRegistry;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The datapaths of a process, and the netdev providers they open ports with.
#[derive(Debug, Default)]
pub struct DatapathRegistry {
    netdevs: NetdevRegistry,
    dps: Mutex<BTreeMap<String, Arc<DpNetdev>>>,
}

impl DatapathRegistry {
    /// A registry using `netdevs` to open LOCAL ports.
    pub fn new(netdevs: NetdevRegistry) -> Self {
        DatapathRegistry { netdevs, dps: Mutex::new(BTreeMap::new()) }
    }

    /// The netdev providers.
    pub fn netdevs(&self) -> &NetdevRegistry {
        &self.netdevs
    }

    /// Creates a datapath; fails if the name is taken.
    pub fn create(
        &self,
        name: &str,
        class: DpClass,
        config: DpConfig,
    ) -> Result<Arc<DpNetdev>, DpifError> {
        let mut dps = self.dps.lock().unwrap();
        if dps.contains_key(name) {
            return Err(DpifError::DatapathExists(name.to_string()));
        }
        let dp = DpNetdev::create(name, class, config, &self.netdevs)?;
        dps.insert(name.to_string(), dp.clone());
        Ok(dp)
    }

    /// Opens an existing datapath.
    pub fn get(&self, name: &str) -> Result<Arc<DpNetdev>, DpifError> {
        self.dps
            .lock()
            .unwrap()
            .get(name)
            .cloned()
            .ok_or_else(|| DpifError::NoSuchDatapath(name.to_string()))
    }

    /// Names of every datapath.
    pub fn names(&self) -> Vec<String> {
        self.dps.lock().unwrap().keys().cloned().collect()
    }

    /// Destroys a datapath: it stops once the last handle to it is dropped.
    pub fn destroy(&self, name: &str) -> Result<(), DpifError> {
        self.dps
            .lock()
            .unwrap()
            .remove(name)
            .map(|_| ())
            .ok_or_else(|| DpifError::NoSuchDatapath(name.to_string()))
    }
}
