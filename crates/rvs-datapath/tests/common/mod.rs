//! Shared pieces of the system tests.

use rvs_datapath::dpif::{Upcall, UpcallError, UpcallReply};
use rvs_datapath::netdev::Netdev;
use rvs_datapath::odp::OdpAction;
use rvs_datapath::{DatapathRegistry, DpClass, DpConfig, DpNetdev, Dpif, UpcallHandler};
use rvs_packet::{Mask, OdpPort};
use rvs_testbed::tag;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Sends every miss out of every other port (a hub); the megaflow matches
/// only the invariants, so one flow per input port and ethertype.
pub struct Hub {
    /// The ports to flood to.
    pub ports: Mutex<Vec<OdpPort>>,
}

impl UpcallHandler for Hub {
    fn upcall(&self, u: &Upcall<'_>) -> Result<UpcallReply, UpcallError> {
        let inp = u.key.in_port();
        let actions = self
            .ports
            .lock()
            .unwrap()
            .iter()
            .filter(|p| **p != inp)
            .map(|p| OdpAction::Output(*p))
            .collect();
        Ok(UpcallReply { actions, mask: Mask::zero(), ufid: None, install: true })
    }
}

/// A datapath with one poll thread whose ports are joined by a [`Hub`].
pub struct Switch {
    pub dp: Arc<DpNetdev>,
    pub hub: Arc<Hub>,
    /// The ports' netdevs, in the order given.
    pub devs: Vec<Arc<dyn Netdev>>,
    /// The registry the ports came from (kept alive with them; not every
    /// test binary reads it).
    #[allow(dead_code)]
    pub reg: DatapathRegistry,
}

/// A [`Switch`] with `system` ports on interfaces `ports`, opened with
/// `options`.
pub fn switch(ports: &[&str], options: &[(&str, &str)]) -> Switch {
    let reg = DatapathRegistry::default();
    let dp = reg
        .create(
            &format!("rvs{}", tag()),
            DpClass::Dummy,
            DpConfig { n_threads: 1, ..DpConfig::default() },
        )
        .unwrap();
    let opts: BTreeMap<String, String> =
        options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let hub = Arc::new(Hub { ports: Mutex::new(Vec::new()) });
    let mut devs = Vec::new();
    for p in ports {
        let nd = reg.netdevs().open("system", p, &opts).unwrap();
        devs.push(nd.clone());
        hub.ports.lock().unwrap().push(dp.port_add(nd, None).unwrap());
    }
    dp.register_upcall_handler(Some(hub.clone()));
    Switch { dp, hub, devs, reg }
}
