//! Shared pieces of the system tests.

use rvs_datapath::dpif::{Upcall, UpcallError, UpcallReply};
use rvs_datapath::odp::OdpAction;
use rvs_datapath::UpcallHandler;
use rvs_packet::{Mask, OdpPort};
use std::sync::Mutex;

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
