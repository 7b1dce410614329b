//! Resource-leak test, in its own test binary: it counts the process's open
//! file descriptors, which other tests running in parallel would disturb.

use rvs_datapath::dpif::{Upcall, UpcallError, UpcallReply};
use rvs_datapath::netdev::dummy::DummyNetdev;
use rvs_datapath::netdev::Netdev;
use rvs_datapath::odp::OdpAction;
use rvs_datapath::{DatapathRegistry, DpClass, DpConfig, Dpif, UpcallHandler};
use rvs_packet::wire::builder::PacketBuilder;
use rvs_packet::wire::tcp::TcpFlags;
use rvs_packet::{EthAddr, Mask, OdpPort, Packet};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn tcp(sport: u16, dport: u16) -> Vec<u8> {
    PacketBuilder::ethernet(EthAddr([2, 0, 0, 0, 0, 0xa]), EthAddr([2, 0, 0, 0, 0, 0xb]))
        .ipv4(Ipv4Addr::new(198, 18, 0, 1), Ipv4Addr::new(198, 18, 0, 2), 64)
        .tcp(sport, dport, TcpFlags::SYN)
        .build()
}

fn dummy(name: &str) -> Arc<DummyNetdev> {
    DummyNetdev::new(name, false, &BTreeMap::new()).unwrap()
}

struct Handler(Vec<OdpAction>);

impl UpcallHandler for Handler {
    fn upcall(&self, _u: &Upcall<'_>) -> Result<UpcallReply, UpcallError> {
        Ok(UpcallReply { actions: self.0.clone(), mask: Mask::zero(), ufid: None, install: true })
    }
}

fn handler(actions: Vec<OdpAction>, _m: Mask) -> Arc<Handler> {
    Arc::new(Handler(actions))
}

#[test]
fn ports_come_and_go_under_traffic_without_leaks() {
    let fds_before = rvs_datapath::sys::open_fd_count();
    {
        let reg = DatapathRegistry::default();
        let dp = reg
            .create("dp0", DpClass::Dummy, DpConfig { n_threads: 2, ..DpConfig::default() })
            .unwrap();
        let p1 = dummy("p1");
        dp.port_add(p1.clone(), None).unwrap();
        dp.register_upcall_handler(Some(handler(
            vec![OdpAction::Output(OdpPort(2)), OdpAction::Output(OdpPort(3))],
            Mask::zero(),
        )));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let feeder = {
            let (p1, stop) = (p1.clone(), stop.clone());
            std::thread::spawn(move || {
                let frame = tcp(1, 80);
                let start = Instant::now();
                while !stop.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(10) {
                    p1.receive_batch((0..32).map(|_| Packet::from_bytes(&frame)));
                    std::thread::sleep(Duration::from_micros(200));
                }
            })
        };
        for round in 0..30 {
            let a = dummy(&format!("a{round}"));
            let b = dummy(&format!("b{round}"));
            assert_eq!(dp.port_add(a.clone(), None).unwrap(), OdpPort(2));
            assert_eq!(dp.port_add(b.clone(), None).unwrap(), OdpPort(3));
            std::thread::sleep(Duration::from_millis(3));
            dp.port_del(OdpPort(2)).unwrap();
            dp.port_del(OdpPort(3)).unwrap();
            assert_eq!(Arc::strong_count(&a), 1, "the datapath let go of a deleted port");
        }
        stop.store(true, Ordering::Relaxed);
        feeder.join().unwrap();
        assert!(dp.stats().hits > 0);
        assert!(p1.carrier());
    }
    assert_eq!(rvs_datapath::sys::open_fd_count(), fds_before, "every fd was released");
}
