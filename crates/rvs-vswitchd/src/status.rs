//! The periodic status refresh: what the netdevs know about themselves goes
//! into their `Interface` rows, as OVS's `bridge.c` does on its stats
//! timer: `statistics`, `link_state` (carrier), `admin_state`, `mtu`,
//! `mac_in_use`, `ifindex`, `status`, and for system interfaces
//! `link_speed` and `duplex` (when the device reports them) and
//! `link_resets` (carrier changes since the refresh first saw the
//! interface, by the kernel's count).
//!
//! The interval is `Open_vSwitch:other_config:stats-update-interval` in
//! milliseconds, default and minimum 5000 as in OVS. A new interface is
//! refreshed at once, without waiting for the timer. Only the columns that
//! changed are written, all in one transaction appended to the
//! reconciler's; nothing is written when nothing changed, and `cur_cfg` is
//! never touched, so `ovs-vsctl` waits are unaffected.

use rvs_datapath::dpif::PortStats;
use rvs_datapath::netdev::Netdev;
use rvs_ofproto::ofproto::PortKind;
use rvs_ofproto::Backer;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// OVS's default and minimum `stats-update-interval`.
const MIN_INTERVAL: Duration = Duration::from_millis(5000);

/// Decides when to refresh and computes the write.
pub struct Refresher {
    backer: Arc<Backer>,
    last: Option<Instant>,
    interval: Duration,
    /// Interfaces (by row uuid) seen at the last refresh.
    seen: BTreeSet<String>,
    /// The kernel's count of carrier changes of each system interface (by
    /// row uuid) when the refresh first saw it: `link_resets` counts from
    /// there.
    carrier_base: BTreeMap<String, u64>,
}

/// The columns the refresh owns, as datum JSON.
fn atoms(v: &Value) -> Vec<&Value> {
    match v.as_array() {
        Some(a) if a.len() == 2 && a[0] == "set" => {
            a[1].as_array().map(|x| x.iter().collect()).unwrap_or_default()
        }
        _ => vec![v],
    }
}

fn map_of(v: Option<&Value>) -> BTreeMap<String, Value> {
    v.and_then(|v| v.as_array())
        .filter(|a| a.len() == 2 && a[0] == "map")
        .and_then(|a| a[1].as_array())
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|p| Some((p.get(0)?.as_str()?.to_string(), p.get(1)?.clone())))
                .collect()
        })
        .unwrap_or_default()
}

fn to_map<V: Into<Value>>(m: BTreeMap<String, V>) -> Value {
    let pairs: Vec<Value> = m.into_iter().map(|(k, v)| json!([k, v.into()])).collect();
    json!(["map", pairs])
}

/// A scalar or optional column: the single atom, or `None` if empty.
fn scalar(v: Option<&Value>) -> Option<Value> {
    v.and_then(|v| atoms(v).first().map(|a| (*a).clone()))
}

/// The columns of `want` whose value differs from `row`'s.
fn changed_columns(row: &Value, want: Vec<(&'static str, Value)>) -> Map<String, Value> {
    let mut changed = Map::new();
    for (col, v) in want {
        let same = match col {
            "statistics" | "status" => map_of(row.get(col)) == map_of(Some(&v)),
            _ => scalar(row.get(col)) == scalar(Some(&v)),
        };
        if !same {
            changed.insert(col.to_string(), v);
        }
    }
    changed
}

impl Refresher {
    /// A refresher reading the ports of `backer`'s bridges.
    pub fn new(backer: Arc<Backer>) -> Refresher {
        Refresher {
            backer,
            last: None,
            interval: MIN_INTERVAL,
            seen: BTreeSet::new(),
            carrier_base: BTreeMap::new(),
        }
    }

    /// How long until the next refresh is due.
    pub fn wait(&self) -> Duration {
        match self.last {
            None => Duration::ZERO,
            Some(t) => self.interval.saturating_sub(t.elapsed()),
        }
    }

    /// The update operations for `db` (the database as JSON), if a refresh
    /// is due (the timer ran out or an interface appeared) and something
    /// changed.
    pub fn poll(&mut self, db: &Value) -> Vec<Value> {
        let root_oc = db
            .get("Open_vSwitch")
            .and_then(|t| t.as_object())
            .and_then(|t| t.values().next())
            .map(|r| map_of(r.get("other_config")))
            .unwrap_or_default();
        self.interval = root_oc
            .get("stats-update-interval")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse::<u64>().ok())
            .map(Duration::from_millis)
            .unwrap_or(MIN_INTERVAL)
            .max(MIN_INTERVAL);
        let empty = Map::new();
        let rows = db.get("Interface").and_then(|v| v.as_object()).unwrap_or(&empty);
        let now_seen: BTreeSet<String> = rows.keys().cloned().collect();
        let due = self.wait().is_zero() || !now_seen.is_subset(&self.seen);
        if !due {
            return Vec::new();
        }
        self.last = Some(Instant::now());
        self.carrier_base.retain(|uuid, _| now_seen.contains(uuid));
        self.seen = now_seen;
        let netdevs = self.netdevs();
        let mut ops = Vec::new();
        for (uuid, row) in rows {
            let Some(name) = row.get("name").and_then(|v| v.as_str()) else { continue };
            let Some(nd) = netdevs.get(name) else { continue };
            let mut cols = self.columns(nd.0.as_ref(), nd.1);
            if nd.0.type_name() == "system" {
                if let Some(n) = sys_counter(name, "carrier_changes") {
                    let base = *self.carrier_base.entry(uuid.clone()).or_insert(n);
                    cols.push(("link_resets", json!(n.saturating_sub(base))));
                }
            }
            let changed = changed_columns(row, cols);
            if !changed.is_empty() {
                ops.push(json!({
                    "op": "update", "table": "Interface",
                    "where": [["_uuid", "==", ["uuid", uuid]]],
                    "row": changed,
                }));
            }
        }
        ops.extend(self.mirror_ops(db));
        ops
    }

    /// Each Mirror row's `statistics` (`tx_packets`, `tx_bytes`: what its
    /// copies carried), from its bridge's mirror of the same name.
    fn mirror_ops(&self, db: &Value) -> Vec<Value> {
        let empty = Map::new();
        let table = |t: &str| db.get(t).and_then(|v| v.as_object()).unwrap_or(&empty);
        let mut ops = Vec::new();
        for bridge in table("Bridge").values() {
            let Some(br) = bridge.get("name").and_then(|v| v.as_str()) else { continue };
            let Ok(stats) = self.backer.mirror_stats(br) else { continue };
            for uuid in crate::reconcile::datum::uuids(bridge.get("mirrors")) {
                let Some(row) = table("Mirror").get(&uuid) else { continue };
                let name = row.get("name").and_then(|v| v.as_str()).unwrap_or("");
                let Some((_, packets, bytes)) = stats.iter().find(|(n, _, _)| n == name) else {
                    continue;
                };
                let st = BTreeMap::from([
                    ("tx_packets".to_string(), *packets),
                    ("tx_bytes".to_string(), *bytes),
                ]);
                let changed = changed_columns(row, vec![("statistics", to_map(st))]);
                if !changed.is_empty() {
                    ops.push(json!({
                        "op": "update", "table": "Mirror",
                        "where": [["_uuid", "==", ["uuid", uuid]]],
                        "row": changed,
                    }));
                }
            }
        }
        ops
    }

    /// Every datapath-backed port of every bridge: name -> (netdev, stats).
    fn netdevs(&self) -> BTreeMap<String, (Arc<dyn Netdev>, PortStats)> {
        let dpif = self.backer.dpif().clone();
        let cfg = self.backer.read();
        let mut out = BTreeMap::new();
        for br in cfg.bridges.values() {
            for p in br.ports.values() {
                let PortKind::Datapath(odp) = p.kind else { continue };
                let Some(nd) = dpif.port_netdev(odp) else { continue };
                let stats = dpif
                    .port_stats(odp)
                    .unwrap_or_else(|_| PortStats { netdev: nd.stats(), ..PortStats::default() });
                out.insert(p.name.clone(), (nd, stats));
            }
        }
        out
    }

    fn columns(&self, nd: &dyn Netdev, ps: PortStats) -> Vec<(&'static str, Value)> {
        let mut cols = Vec::new();
        let s = ps.netdev;
        let mut stats: BTreeMap<String, u64> = [
            ("rx_packets", s.rx_packets),
            ("rx_bytes", s.rx_bytes),
            ("rx_dropped", s.rx_dropped),
            ("rx_errors", s.rx_errors),
            ("tx_packets", s.tx_packets),
            ("tx_bytes", s.tx_bytes),
            ("tx_dropped", s.tx_dropped),
            ("tx_errors", s.tx_errors),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        // A system interface's other kernel counters, under OVS's names.
        if nd.type_name() == "system" {
            for (key, file) in [
                ("collisions", "collisions"),
                ("rx_crc_err", "rx_crc_errors"),
                ("rx_frame_err", "rx_frame_errors"),
                ("rx_over_err", "rx_over_errors"),
                ("rx_missed_errors", "rx_missed_errors"),
            ] {
                if let Some(n) = sys_counter(nd.name(), &format!("statistics/{file}")) {
                    stats.insert(key.into(), n);
                }
            }
        }
        // Policing's drops (also in rx_dropped and tx_dropped), under
        // OVS's names, once there are any.
        for (k, n) in [("ovs_rx_qos_drops", ps.rx_qos_drops), ("ovs_tx_qos_drops", ps.tx_qos_drops)]
        {
            if n > 0 {
                stats.insert(k.into(), n);
            }
        }
        cols.push(("statistics", to_map(stats)));
        let status = nd.status();
        // Carrier, and the administrative state where the device reports
        // it (else the same as the carrier).
        let link = if nd.carrier() { "up" } else { "down" };
        let admin = status.get("admin_state").map_or(link, String::as_str);
        cols.push(("link_state", json!(link)));
        cols.push(("admin_state", json!(admin)));
        cols.push(("status", to_map(status)));
        if let Ok(mtu) = nd.mtu() {
            cols.push(("mtu", json!(mtu)));
        }
        if let Ok(mac) = nd.mac() {
            cols.push(("mac_in_use", json!(mac.to_string())));
        }
        if let Some(i) = nd.ifindex() {
            cols.push(("ifindex", json!(i)));
        }
        if nd.type_name() == "system" {
            let speed = sys_counter(nd.name(), "speed").filter(|s| *s > 0);
            if let Some(mbps) = speed {
                cols.push(("link_speed", json!(mbps * 1_000_000)));
            }
            let duplex = std::fs::read_to_string(format!("/sys/class/net/{}/duplex", nd.name()));
            if let Ok(d @ ("full" | "half")) = duplex.as_deref().map(str::trim) {
                cols.push(("duplex", json!(d)));
            }
        }
        cols
    }
}

/// A number from `/sys/class/net/<name>/<file>` (none if the file is
/// missing, unreadable, or not a non-negative number: `speed` is -1 when
/// the device has no link).
fn sys_counter(name: &str, file: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/sys/class/net/{name}/{file}")).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_columns_are_written() {
        let row = json!({
            "name": "p1",
            "mtu": 1500,
            "mac_in_use": "aa:55:aa:55:00:03",
            "ifindex": ["set", []],
            "statistics": ["map", [["rx_packets", 3], ["tx_packets", 1]]],
            "status": ["map", []],
        });
        let stats = |rx: u64| {
            to_map(BTreeMap::from([("rx_packets".to_string(), rx), ("tx_packets".to_string(), 1)]))
        };
        let same = vec![
            ("mtu", json!(1500)),
            ("mac_in_use", json!("aa:55:aa:55:00:03")),
            ("statistics", stats(3)),
            ("status", to_map(BTreeMap::<String, String>::new())),
        ];
        assert!(changed_columns(&row, same).is_empty());
        let changed = changed_columns(
            &row,
            vec![("mtu", json!(9000)), ("statistics", stats(4)), ("ifindex", json!(7))],
        );
        let keys: Vec<&String> = changed.keys().collect();
        assert_eq!(keys, ["ifindex", "mtu", "statistics"]);
        assert_eq!(changed["statistics"], json!(["map", [["rx_packets", 4], ["tx_packets", 1]]]));
    }
}
