//! The MAC learning table of NORMAL: which port each (VLAN, MAC) was last
//! seen on.
//!
//! Entries age out after the aging time (default 300 s) and the table holds
//! at most `max_entries` (default 8,192), evicting the least recently seen
//! dynamic entry when full. Static entries (`fdb/add`) never age and are
//! never evicted or moved by traffic.
//!
//! Gratuitous-ARP lock: an entry learned or moved by a gratuitous ARP is
//! locked for [`GRAT_ARP_LOCK`]. While locked, ordinary frames with that
//! source arriving on another port do not move it (they are echoes of the
//! announcement, e.g. flooded back through a loop or a second uplink); a new
//! gratuitous ARP does, because a host that really moves announces itself.
//! This is the part of OVS's lock that applies without bonds.
//!
//! Every change that can alter a forwarding decision (a new entry, a move,
//! an expiry, a flush) bumps [`MacTable::generation`], which the revalidator
//! watches.

use crate::types::OfPort;
use rvs_packet::EthAddr;
use std::collections::HashMap;
use std::time::Duration;

/// Default number of entries.
pub const DEFAULT_MAX_ENTRIES: usize = 8192;
/// Default aging time.
pub const DEFAULT_AGING: Duration = Duration::from_secs(300);
/// How long a gratuitous ARP locks an entry.
pub const GRAT_ARP_LOCK: Duration = Duration::from_secs(5);

/// One learned (or static) entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MacEntry {
    /// The port the MAC was seen on.
    pub port: OfPort,
    /// When it was last seen (clock time).
    pub seen: Duration,
    /// True for `fdb/add` entries.
    pub is_static: bool,
    /// Locked by a gratuitous ARP until this time.
    pub lock_until: Duration,
}

/// What learning did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Learned {
    /// A new entry.
    New,
    /// The entry moved from this port.
    Moved(OfPort),
    /// Already known on this port (refreshed).
    Refreshed,
    /// Not learned: a static entry, a locked entry, or a group address.
    Ignored,
}

/// A bridge's MAC table.
#[derive(Debug)]
pub struct MacTable {
    entries: HashMap<(u16, EthAddr), MacEntry>,
    /// Most entries held.
    pub max_entries: usize,
    /// Idle time after which a dynamic entry goes.
    pub aging: Duration,
    generation: u64,
}

impl Default for MacTable {
    fn default() -> Self {
        MacTable::new(DEFAULT_MAX_ENTRIES, DEFAULT_AGING)
    }
}

impl MacTable {
    /// An empty table.
    pub fn new(max_entries: usize, aging: Duration) -> Self {
        MacTable { entries: HashMap::new(), max_entries: max_entries.max(1), aging, generation: 0 }
    }

    /// Bumped on every change that can alter forwarding.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The port `mac` was learned on in `vlan`, if the entry is live.
    pub fn lookup(&self, vlan: u16, mac: EthAddr, now: Duration) -> Option<OfPort> {
        let e = self.entries.get(&(vlan, mac))?;
        (e.is_static || now.saturating_sub(e.seen) < self.aging).then_some(e.port)
    }

    /// The entry itself.
    pub fn entry(&self, vlan: u16, mac: EthAddr) -> Option<&MacEntry> {
        self.entries.get(&(vlan, mac))
    }

    /// Learns that `mac` is on `port` in `vlan`.
    pub fn learn(
        &mut self,
        vlan: u16,
        mac: EthAddr,
        port: OfPort,
        now: Duration,
        grat_arp: bool,
    ) -> Learned {
        if mac.is_multicast() {
            return Learned::Ignored;
        }
        let aging = self.aging;
        if let Some(e) = self.entries.get_mut(&(vlan, mac)) {
            let expired = !e.is_static && now.saturating_sub(e.seen) >= aging;
            if e.is_static {
                return Learned::Ignored;
            }
            if e.port == port && !expired {
                e.seen = now;
                if grat_arp {
                    e.lock_until = now + GRAT_ARP_LOCK;
                }
                return Learned::Refreshed;
            }
            if !expired && !grat_arp && now < e.lock_until {
                return Learned::Ignored;
            }
            let old = e.port;
            e.port = port;
            e.seen = now;
            e.lock_until = if grat_arp { now + GRAT_ARP_LOCK } else { Duration::ZERO };
            self.generation += 1;
            return if expired { Learned::New } else { Learned::Moved(old) };
        }
        if self.entries.len() >= self.max_entries && !self.evict_one(now) {
            return Learned::Ignored;
        }
        let lock_until = if grat_arp { now + GRAT_ARP_LOCK } else { Duration::ZERO };
        self.entries
            .insert((vlan, mac), MacEntry { port, seen: now, is_static: false, lock_until });
        self.generation += 1;
        Learned::New
    }

    /// Refreshes an entry's last-seen time if it is still on `port` (traffic
    /// on an installed megaflow keeps its entries alive).
    pub fn refresh(&mut self, vlan: u16, mac: EthAddr, port: OfPort, now: Duration) {
        if let Some(e) = self.entries.get_mut(&(vlan, mac)) {
            if e.port == port && !e.is_static {
                e.seen = e.seen.max(now);
            }
        }
    }

    fn evict_one(&mut self, now: Duration) -> bool {
        self.expire(now);
        if self.entries.len() < self.max_entries {
            return true;
        }
        let victim = self
            .entries
            .iter()
            .filter(|(_, e)| !e.is_static)
            .min_by_key(|(_, e)| e.seen)
            .map(|(k, _)| *k);
        match victim {
            Some(k) => {
                self.entries.remove(&k);
                self.generation += 1;
                true
            }
            None => false,
        }
    }

    /// Removes dynamic entries older than the aging time; returns how many.
    pub fn expire(&mut self, now: Duration) -> usize {
        let aging = self.aging;
        let before = self.entries.len();
        self.entries.retain(|_, e| e.is_static || now.saturating_sub(e.seen) < aging);
        let n = before - self.entries.len();
        if n > 0 {
            self.generation += 1;
        }
        n
    }

    /// Adds a static entry (replacing any entry for the address).
    pub fn add_static(&mut self, vlan: u16, mac: EthAddr, port: OfPort, now: Duration) {
        self.entries.insert(
            (vlan, mac),
            MacEntry { port, seen: now, is_static: true, lock_until: Duration::ZERO },
        );
        self.generation += 1;
    }

    /// Deletes the entry for `mac` in `vlan`; true if there was one.
    pub fn delete(&mut self, vlan: u16, mac: EthAddr) -> bool {
        let had = self.entries.remove(&(vlan, mac)).is_some();
        if had {
            self.generation += 1;
        }
        had
    }

    /// Removes every dynamic entry (static ones stay, as with OVS's
    /// `fdb/flush`... which also keeps them).
    pub fn flush(&mut self) {
        self.entries.retain(|_, e| e.is_static);
        self.generation += 1;
    }

    /// Removes every entry on `port` (the port went away).
    pub fn flush_port(&mut self, port: OfPort) {
        let before = self.entries.len();
        self.entries.retain(|_, e| e.port != port);
        if self.entries.len() != before {
            self.generation += 1;
        }
    }

    /// Every entry as (vlan, mac, entry), sorted by port, VLAN and MAC.
    pub fn entries(&self) -> Vec<(u16, EthAddr, MacEntry)> {
        let mut v: Vec<_> = self.entries.iter().map(|(&(vl, m), e)| (vl, m, *e)).collect();
        v.sort_by_key(|&(vl, m, e)| (e.port, vl, m));
        v
    }

    /// `fdb/show`'s text: ` port  VLAN  MAC                Age`, one entry per
    /// line, static entries with age `static`. `name` gives a port's display
    /// name (OVS shows the OpenFlow number; LOCAL by name).
    pub fn format(&self, now: Duration, name: &dyn Fn(OfPort) -> String) -> String {
        let mut s = String::from(" port  VLAN  MAC                Age\n");
        for (vlan, mac, e) in self.entries() {
            let age = if e.is_static {
                "static".to_string()
            } else {
                now.saturating_sub(e.seen).as_secs().to_string()
            };
            s.push_str(&format!("{:>5}  {:>4}  {}  {:>3}\n", name(e.port), vlan, mac, age));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: EthAddr = EthAddr([0, 0, 0x5e, 0, 0x53, 1]);
    const S: Duration = Duration::from_secs(1);

    #[test]
    fn learns_moves_and_ages() {
        let mut t = MacTable::new(10, Duration::from_secs(300));
        assert_eq!(t.learn(0, A, OfPort(1), S, false), Learned::New);
        assert_eq!(t.lookup(0, A, S), Some(OfPort(1)));
        assert_eq!(t.lookup(5, A, S), None, "VLANs are separate");
        assert_eq!(t.learn(0, A, OfPort(1), 2 * S, false), Learned::Refreshed);
        let g = t.generation();
        assert_eq!(t.learn(0, A, OfPort(2), 3 * S, false), Learned::Moved(OfPort(1)));
        assert!(t.generation() > g);
        assert_eq!(t.lookup(0, A, 302 * S), Some(OfPort(2)));
        assert_eq!(t.lookup(0, A, 304 * S), None);
        assert_eq!(t.expire(304 * S), 1);
        assert!(t.is_empty());
        assert_eq!(t.learn(0, EthAddr::BROADCAST, OfPort(1), S, false), Learned::Ignored);
    }

    #[test]
    fn full_table_evicts_the_oldest_dynamic_entry() {
        let mut t = MacTable::new(2, Duration::from_secs(300));
        t.add_static(0, EthAddr([0, 0, 0, 0, 0, 9]), OfPort(9), S);
        t.learn(0, EthAddr([0, 0, 0, 0, 0, 1]), OfPort(1), S, false);
        t.learn(0, EthAddr([0, 0, 0, 0, 0, 2]), OfPort(2), 2 * S, false);
        assert_eq!(t.len(), 2);
        assert_eq!(t.lookup(0, EthAddr([0, 0, 0, 0, 0, 9]), S), Some(OfPort(9)));
        assert_eq!(t.lookup(0, EthAddr([0, 0, 0, 0, 0, 2]), 2 * S), Some(OfPort(2)));
        assert_eq!(
            t.learn(0, EthAddr([0, 0, 0, 0, 0, 9]), OfPort(3), 3 * S, false),
            Learned::Ignored
        );
    }

    #[test]
    fn gratuitous_arp_locks_against_echoes_but_not_new_announcements() {
        let mut t = MacTable::default();
        t.learn(0, A, OfPort(1), S, true);
        assert_eq!(t.learn(0, A, OfPort(2), 2 * S, false), Learned::Ignored);
        assert_eq!(t.lookup(0, A, 2 * S), Some(OfPort(1)));
        assert_eq!(t.learn(0, A, OfPort(3), 3 * S, true), Learned::Moved(OfPort(1)));
        assert_eq!(
            t.learn(0, A, OfPort(2), 9 * S, false),
            Learned::Moved(OfPort(3)),
            "the lock lapses"
        );
    }

    #[test]
    fn fdb_show_format() {
        let mut t = MacTable::default();
        t.learn(10, A, OfPort(1), S, false);
        t.add_static(0, EthAddr([0, 0, 0x5e, 0, 0x53, 2]), OfPort(2), S);
        let s = t.format(4 * S, &|p| p.to_string());
        assert_eq!(
            s,
            " port  VLAN  MAC                Age\n    1    10  00:00:5e:00:53:01    3\n    2     0  00:00:5e:00:53:02  static\n"
        );
    }
}
