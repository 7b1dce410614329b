//! `rvs-bench netns`: two network namespaces joined, in turn, by a bare veth
//! pair (the limit), the Linux bridge, rvs (the userspace datapath with
//! AF_PACKET ports, in this process) and, when installed, OVS's userspace
//! datapath (plain, and with `userspace-tso-enable=true`). For each it
//! measures TCP throughput with the kernel's default offloads and with
//! transmit offloads off, 64-byte UDP packets delivered per second with the
//! loss, and ping latency under TCP load, then prints a table with ratios to
//! OVS and to the Linux bridge. Besides the default `rvs` row (TPACKET_V3
//! rings with the express lane), `rvs-v2` uses TPACKET_V2 receive rings
//! (`rx_ring=v2`), `rvs-noexpress` V3 rings alone (`rx_express=false`) and
//! `rvs-nogro` turns software GRO off, for A/B comparisons.
//!
//! Needs root, `iperf3` and `ethtool`; OVS is optional
//! (`apt-get install iperf3 ethtool openvswitch-switch`).

use anyhow::{anyhow, bail, Context, Result};
use rvs_datapath::dpif::{Upcall, UpcallError, UpcallReply};
use rvs_datapath::odp::OdpAction;
use rvs_datapath::{DatapathRegistry, DpClass, DpConfig, Dpif, UpcallHandler};
use rvs_packet::{Mask, OdpPort};
use rvs_testbed::{run, tag, try_run, Topo};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options of the namespace benchmark.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seconds per iperf3 run.
    pub secs: u32,
    /// Run only the switches this names: a comma-separated list of parts of
    /// names (`rvs` is every rvs row), or of whole names after `=`
    /// (`=rvs,=ovs-tso`).
    pub only: Option<String>,
    /// rvs's busy-poll window before its poll thread sleeps, microseconds.
    pub busy_poll_us: u64,
    /// rvs's GRO hold time ([`DpConfig::gro_hold`]), microseconds.
    pub gro_hold_us: u64,
    /// rvs's poll threads.
    pub pmd_threads: usize,
    /// Run only these measurements (comma-separated: `tcp`, `udp64`,
    /// `tcp_off`); the others are left out (NaN).
    pub tests: Option<String>,
    /// TCP congestion control in the test namespaces (`cubic`, `bbr`, ...);
    /// `None` keeps the system's default.
    pub cc: Option<String>,
    /// Times the whole selection runs, the switches taking turns in each
    /// round; with more than one, the table also gives the mean of each
    /// figure and each round's ratios to the bridge, which tell apart a
    /// difference from the run-to-run noise of a busy machine.
    pub rounds: u32,
}

thread_local! {
    /// [`Options::tests`] of the running benchmark.
    static TESTS: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
    /// [`Options::cc`] of the running benchmark.
    static CC: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Sets the congestion control asked for in namespace `ns` and returns the
/// one in use there.
fn congestion_control(ns: &str) -> Result<String> {
    if let Some(cc) = CC.with(|c| c.borrow().clone()) {
        let set = format!("net.ipv4.tcp_congestion_control={cc}");
        let o = ns_cmd(ns, &["sysctl", "-qw", &set]).output().context("running sysctl")?;
        if !o.status.success() {
            bail!("sysctl {set}: {}", String::from_utf8_lossy(&o.stderr).trim());
        }
    }
    let o = ns_cmd(ns, &["sysctl", "-n", "net.ipv4.tcp_congestion_control"]).output()?;
    Ok(String::from_utf8_lossy(&o.stdout).trim().to_string())
}

/// True when measurement `what` is to run.
fn wanted(what: &str) -> bool {
    TESTS.with(|t| t.borrow().as_deref().is_none_or(|l| l.split(',').any(|w| w == what)))
}

const A_ADDR: &str = "198.18.10.1";
const B_ADDR: &str = "198.18.10.2";

/// One measured switch.
#[derive(Debug, Default, Clone)]
struct Row {
    name: String,
    /// TCP congestion control of the hosts.
    cc: String,
    tcp_gbps: f64,
    tcp_nooffload_gbps: f64,
    udp64_kpps: f64,
    udp64_loss_pct: f64,
    ping_ms: f64,
    /// Average RTT of 1,000-byte pings on the idle path, ms.
    ping_1000_ms: f64,
    /// Measurements that failed (their figures are NaN), with why.
    errors: Vec<String>,
    /// For rvs: per measurement, what its poll thread did and the CPU time
    /// the switch used (a cost figure less noisy than the throughput).
    probes: Vec<(String, Value)>,
}

/// Reads a switch's own counters around each measurement: `start` before
/// it, `finish` after it (returning what to print).
trait Probe {
    fn start(&self);
    fn finish(&self, secs: f64) -> Value;
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn ns_cmd(ns: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]).args(args);
    c
}

fn iperf_server(ns: &str) -> Result<Child> {
    let c = ns_cmd(ns, &["iperf3", "-s", "-1", "-B", B_ADDR])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting iperf3 -s")?;
    std::thread::sleep(Duration::from_millis(300));
    Ok(c)
}

fn iperf_client(ns: &str, args: &[&str]) -> Result<Value> {
    let mut v = vec!["iperf3", "-c", B_ADDR, "-J"];
    v.extend_from_slice(args);
    let o = ns_cmd(ns, &v).output().context("running iperf3 -c")?;
    let j: Value = serde_json::from_slice(&o.stdout).context("reading iperf3's JSON")?;
    if let Some(e) = j.get("error") {
        bail!("iperf3: {e}");
    }
    Ok(j)
}

fn finish(mut c: Child) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while c.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = c.kill();
    let _ = c.wait();
}

/// The average RTT (ms) of ping's summary, NaN if there is none.
fn avg_rtt(out: &str) -> f64 {
    // "rtt min/avg/max/mdev = 0.030/0.045/0.060/0.010 ms"
    out.lines()
        .find(|l| l.contains("min/avg/max"))
        .and_then(|l| l.split('=').nth(1))
        .and_then(|v| v.trim().split('/').nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

/// Average RTT (ms) of 1,000-byte pings on an idle path: 20, 20 ms apart.
/// Bigger than the express lane takes, they show the latency of bulk
/// traffic that is light.
fn ping_1000(a: &str) -> f64 {
    let o = ns_cmd(a, &["ping", "-q", "-c", "20", "-i", "0.02", "-s", "1000", B_ADDR])
        .stderr(Stdio::null())
        .output();
    o.map(|o| avg_rtt(&String::from_utf8_lossy(&o.stdout))).unwrap_or(f64::NAN)
}

/// TCP throughput in Gbit/s, with the average ping RTT in ms measured during
/// the transfer when `ping` is set.
fn tcp(a: &str, b: &str, secs: u32, ping: bool) -> Result<(f64, f64)> {
    let srv = iperf_server(b)?;
    let pinger = if ping {
        Some(
            ns_cmd(a, &["ping", "-q", "-c", &(secs * 10).to_string(), "-i", "0.1", B_ADDR])
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .context("ping")?,
        )
    } else {
        None
    };
    let j = iperf_client(a, &["-t", &secs.to_string()]);
    finish(srv);
    let rtt = match pinger {
        Some(p) => {
            let o = p.wait_with_output()?;
            avg_rtt(&String::from_utf8_lossy(&o.stdout))
        }
        None => f64::NAN,
    };
    let bps = j?["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .ok_or_else(|| anyhow!("iperf3: no TCP result"))?;
    Ok((bps / 1e9, rtt))
}

/// 64-byte UDP: packets delivered a second (thousands) and loss (percent).
fn udp64(a: &str, b: &str, secs: u32) -> Result<(f64, f64)> {
    let srv = iperf_server(b)?;
    let j = iperf_client(a, &["-u", "-l", "64", "-b", "0", "-t", &secs.to_string()]);
    finish(srv);
    let j = j?;
    let sum = &j["end"]["sum"];
    let pkts = sum["packets"].as_f64().ok_or_else(|| anyhow!("iperf3: no UDP result"))?;
    let lost = sum["lost_packets"].as_f64().unwrap_or(0.0);
    let loss = sum["lost_percent"].as_f64().unwrap_or(0.0);
    let secs_run = sum["seconds"].as_f64().unwrap_or(secs as f64).max(0.001);
    Ok(((pkts - lost) / secs_run / 1e3, loss))
}

fn set_tx_offload(ns: &str, dev: &str, on: bool) {
    let v = if on { "on" } else { "off" };
    try_run(&["ip", "netns", "exec", ns, "ethtool", "-K", dev, "tx", v]);
}

fn measure(
    name: &str,
    t: &Topo,
    a: &str,
    b: &str,
    devs: (&str, &str),
    secs: u32,
    probe: Option<&dyn Probe>,
) -> Result<Row> {
    let _ = t;
    let cc = congestion_control(a)?;
    if congestion_control(b)? != cc {
        bail!("{name}: the two namespaces use different congestion controls");
    }
    // Wait for the path (learning switches, ARP).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !try_run(&["ip", "netns", "exec", a, "ping", "-c", "1", "-W", "1", B_ADDR]) {
        if Instant::now() > deadline {
            bail!("{name}: no path from {a} to {b}");
        }
    }
    // A measurement that fails (OVS without TSO delivers no TCP with the
    // default offloads) leaves its figures NaN and says why; the rest go on.
    let mut errors = Vec::new();
    let mut or_nan = |r: Result<(f64, f64)>, what: &str| {
        r.unwrap_or_else(|e| {
            errors.push(format!("{what}: {e}"));
            (f64::NAN, f64::NAN)
        })
    };
    let mut probes = Vec::new();
    let mut probed = |what: &str, f: &mut dyn FnMut() -> Result<(f64, f64)>| {
        probe.inspect(|p| p.start());
        let t0 = Instant::now();
        let r = f();
        if let Some(p) = probe {
            probes.push((what.to_string(), p.finish(t0.elapsed().as_secs_f64())));
        }
        r
    };
    let skipped = (f64::NAN, f64::NAN);
    let ping_1000_ms = ping_1000(a);
    let (tcp_gbps, ping_ms) = if wanted("tcp") {
        let r = probed("tcp", &mut || tcp(a, b, secs, true));
        or_nan(r, "tcp")
    } else {
        skipped
    };
    let (udp64_kpps, udp64_loss_pct) = if wanted("udp64") {
        let r = probed("udp64", &mut || udp64(a, b, secs));
        or_nan(r, "udp64")
    } else {
        skipped
    };
    let (tcp_nooffload_gbps, _) = if wanted("tcp_off") {
        set_tx_offload(a, devs.0, false);
        set_tx_offload(b, devs.1, false);
        let off = probed("tcp_off", &mut || tcp(a, b, secs, false));
        set_tx_offload(a, devs.0, true);
        set_tx_offload(b, devs.1, true);
        or_nan(off, "tcp with offloads off")
    } else {
        skipped
    };
    Ok(Row {
        name: name.into(),
        cc,
        tcp_gbps,
        tcp_nooffload_gbps,
        udp64_kpps,
        udp64_loss_pct,
        ping_ms,
        ping_1000_ms,
        errors,
        probes,
    })
}

/// CPU time (user + system) of this process so far, seconds.
fn process_cpu_secs() -> f64 {
    // /proc/self/stat: fields 14 and 15 (utime, stime) in clock ticks,
    // counted after the parenthesised command name.
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest.split_whitespace().filter_map(|v| v.parse().ok()).collect();
    // After ")": state (not a number, skipped), then ppid (field 4) on, so
    // utime and stime (fields 14, 15) are the 11th and 12th numbers.
    match (f.get(10), f.get(11)) {
        (Some(u), Some(s)) => (u + s) as f64 / 100.0,
        _ => f64::NAN,
    }
}

/// rvs's probe: its poll threads' counters and the CPU time of this process
/// (in which rvs's threads run) during a measurement.
struct RvsProbe {
    dp: Arc<rvs_datapath::DpNetdev>,
    /// The system ports, for their status.
    devs: Vec<Arc<dyn rvs_datapath::netdev::Netdev>>,
    cpu0: std::sync::Mutex<f64>,
    /// [`RvsProbe::status_sum`] of `rx_bulk_moves` and `rx_ring_drops` at
    /// the start.
    moves0: std::sync::Mutex<u64>,
    drops0: std::sync::Mutex<u64>,
}

impl RvsProbe {
    /// The sum over the ports of a counter in their status
    /// (`rx_bulk_moves`: times they moved bulk traffic between their rings;
    /// `rx_ring_drops`: packets the kernel dropped for want of ring room).
    fn status_sum(&self, key: &str) -> u64 {
        let n = |d: &Arc<dyn rvs_datapath::netdev::Netdev>| {
            d.status().get(key).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        };
        self.devs.iter().map(n).sum()
    }
}

impl Probe for RvsProbe {
    fn start(&self) {
        self.dp.pmd_stats_clear(None);
        *self.cpu0.lock().unwrap() = process_cpu_secs();
        *self.moves0.lock().unwrap() = self.status_sum("rx_bulk_moves");
        *self.drops0.lock().unwrap() = self.status_sum("rx_ring_drops");
    }

    fn finish(&self, secs: f64) -> Value {
        let cpu = process_cpu_secs() - *self.cpu0.lock().unwrap();
        let st = self.dp.pmd_stats();
        let sum = |f: fn(&rvs_datapath::dpif_netdev::PmdStats) -> u64| -> f64 {
            st.iter().map(f).sum::<u64>() as f64
        };
        let pkts = sum(|s| s.packets);
        let per = |a: f64, b: f64| if b > 0.0 { (a / b * 100.0).round() / 100.0 } else { 0.0 };
        json!({
            "cpu_share": (cpu / secs * 100.0).round() / 100.0,
            "cpu_us_per_packet": per(cpu * 1e6, pkts),
            "packets": pkts,
            "packets_per_busy_iteration": per(pkts, sum(|s| s.busy_iterations)),
            "iterations_per_s": (sum(|s| s.iterations) / secs).round(),
            "busy_iteration_share": per(sum(|s| s.busy_iterations), sum(|s| s.iterations)),
            "packets_per_output_batch": per(sum(|s| s.output_packets), sum(|s| s.output_batches)),
            "gro_merged_share": per(sum(|s| s.gro_merged), sum(|s| s.output_packets)),
            "sleeps_per_s": (sum(|s| s.sleeps) / secs).round(),
            "bulk_ring_moves": self.status_sum("rx_bulk_moves") - *self.moves0.lock().unwrap(),
            "ring_drops": self.status_sum("rx_ring_drops") - *self.drops0.lock().unwrap(),
        })
    }
}

/// Cross-connects two ports: each miss goes out of the other port, and the
/// megaflow matches only the invariants.
struct Patch(OdpPort, OdpPort);

impl UpcallHandler for Patch {
    fn upcall(&self, u: &Upcall<'_>) -> Result<UpcallReply, UpcallError> {
        let out = if u.key.in_port() == self.0 { self.1 } else { self.0 };
        Ok(UpcallReply {
            actions: vec![OdpAction::Output(out)],
            mask: Mask::zero(),
            ufid: None,
            install: true,
        })
    }
}

/// One way of running rvs in the benchmark.
#[derive(Clone, Copy)]
struct RvsVariant {
    name: &'static str,
    /// Options of the `system` ports (receive rings).
    port_options: &'static [(&'static str, &'static str)],
    /// Software GRO on output.
    gro: bool,
    /// Yield the CPU while busy-polling an idle queue.
    idle_yield: bool,
    /// Measured unless `--only` leaves it out (else only when named).
    by_default: bool,
}

impl RvsVariant {
    const DEFAULT: RvsVariant = RvsVariant {
        name: "rvs",
        port_options: &[],
        gro: true,
        idle_yield: rvs_datapath::dpif_netdev::DEFAULT_IDLE_YIELD,
        by_default: true,
    };
}

/// The rvs rows: the default, then variants for A/B comparison: bulk
/// traffic always in the V3 ring (no direct ring), a 16 MiB receive ring
/// (the default before it shrank to 2 MiB), one TPACKET_V2 ring, V3 without
/// the express lane, without GRO; and, only when named, a poll thread that
/// spins without yielding while it busy-polls.
const RVS_VARIANTS: [RvsVariant; 7] = [
    RvsVariant::DEFAULT,
    RvsVariant {
        name: "rvs-nodirect",
        port_options: &[("rx_direct", "false")],
        ..RvsVariant::DEFAULT
    },
    RvsVariant {
        name: "rvs-bigring",
        port_options: &[("rx_ring_blocks", "64")],
        ..RvsVariant::DEFAULT
    },
    RvsVariant { name: "rvs-v2", port_options: &[("rx_ring", "v2")], ..RvsVariant::DEFAULT },
    RvsVariant {
        name: "rvs-noexpress",
        port_options: &[("rx_express", "false")],
        ..RvsVariant::DEFAULT
    },
    RvsVariant { name: "rvs-nogro", gro: false, ..RvsVariant::DEFAULT },
    RvsVariant { name: "rvs-spin", idle_yield: false, by_default: false, ..RvsVariant::DEFAULT },
];

fn bench_rvs(opts: &Options, v: RvsVariant) -> Result<Row> {
    let mut t = Topo::new();
    let (a, b, oa, ob) = t.two_hosts(&[&format!("{A_ADDR}/24")], &[&format!("{B_ADDR}/24")]);
    let reg = DatapathRegistry::default();
    let config = DpConfig {
        n_threads: opts.pmd_threads,
        busy_poll: Duration::from_micros(opts.busy_poll_us),
        gro: v.gro,
        idle_yield: v.idle_yield,
        gro_hold: Duration::from_micros(opts.gro_hold_us),
        ..DpConfig::default()
    };
    // A datapath as the daemon makes it: its LOCAL port is an internal
    // (tap) port, polled with the others.
    let dp = reg.create("rvs-bench", DpClass::Netdev, config)?;
    let port_opts: BTreeMap<String, String> =
        v.port_options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let (na, nb) = (
        reg.netdevs().open("system", &oa, &port_opts)?,
        reg.netdevs().open("system", &ob, &port_opts)?,
    );
    let pa = dp.port_add(na.clone(), None)?;
    let pb = dp.port_add(nb.clone(), None)?;
    dp.register_upcall_handler(Some(Arc::new(Patch(pa, pb))));
    let name = v.name;
    let probe = RvsProbe {
        dp: dp.clone(),
        devs: vec![na, nb],
        cpu0: std::sync::Mutex::new(0.0),
        moves0: std::sync::Mutex::new(0),
        drops0: std::sync::Mutex::new(0),
    };
    let (ia, ib) = (format!("{oa}i"), format!("{ob}i"));
    measure(name, &t, &a, &b, (&ia, &ib), opts.secs, Some(&probe))
}

fn bench_bridge(secs: u32) -> Result<Row> {
    let mut t = Topo::new();
    let (a, b, oa, ob) = t.two_hosts(&[&format!("{A_ADDR}/24")], &[&format!("{B_ADDR}/24")]);
    t.bridge(&format!("rbbr{}", tag()), &[&oa, &ob]);
    measure("linux-bridge", &t, &a, &b, (&format!("{oa}i"), &format!("{ob}i")), secs, None)
}

fn bench_veth(secs: u32) -> Result<Row> {
    let mut t = Topo::new();
    let (a, b) = (t.netns("ba"), t.netns("bb"));
    let name = format!("rbv{}", tag());
    t.direct_veth(&a, &b, &name, &format!("{A_ADDR}/24"), &format!("{B_ADDR}/24"));
    measure("veth", &t, &a, &b, (&name, &format!("{name}p")), secs, None)
}

/// A private OVS (ovsdb-server + ovs-vswitchd) in a temporary directory,
/// stopped and removed on drop.
struct Ovs {
    dir: std::path::PathBuf,
    /// Its stop commands, registered with [`rvs_testbed::at_signal`].
    at_signal: Vec<u32>,
}

impl Ovs {
    fn vsctl(&self, args: &[&str]) -> Result<()> {
        let db = format!("--db=unix:{}/db.sock", self.dir.display());
        let mut v = vec!["ovs-vsctl", db.as_str(), "--timeout=20"];
        v.extend_from_slice(args);
        let o = Command::new(v[0]).args(&v[1..]).output()?;
        if !o.status.success() {
            bail!("{v:?}: {}", String::from_utf8_lossy(&o.stderr));
        }
        Ok(())
    }

    fn start(tso: bool, ports: &[&str]) -> Result<Ovs> {
        let dir = std::env::temp_dir().join(format!("rvs-bench-ovs-{}", tag()));
        std::fs::create_dir_all(&dir)?;
        let d = dir.display().to_string();
        let at_signal = vec![
            rvs_testbed::at_signal(&[
                "ovs-appctl",
                "-t",
                &format!("{d}/vswitchd.ctl"),
                "exit",
                "--cleanup",
            ]),
            rvs_testbed::at_signal(&["ovs-appctl", "-t", &format!("{d}/ovsdb.ctl"), "exit"]),
            rvs_testbed::at_signal(&["rm", "-rf", &d]),
        ];
        let ovs = Ovs { dir, at_signal };
        let schema = ["/usr/share/openvswitch/vswitch.ovsschema"];
        run(&["ovsdb-tool", "create", &format!("{d}/conf.db"), schema[0]]);
        let env =
            [("OVS_RUNDIR", d.as_str()), ("OVS_DBDIR", d.as_str()), ("OVS_LOGDIR", d.as_str())];
        let st = Command::new("ovsdb-server")
            .envs(env)
            .args([
                &format!("{d}/conf.db"),
                &format!("--remote=punix:{d}/db.sock"),
                &format!("--pidfile={d}/ovsdb.pid"),
                &format!("--unixctl={d}/ovsdb.ctl"),
                &format!("--log-file={d}/ovsdb.log"),
                "--detach",
            ])
            .status()?;
        if !st.success() {
            bail!("ovsdb-server did not start (see {d}/ovsdb.log)");
        }
        ovs.vsctl(&["--no-wait", "init"])?;
        if tso {
            ovs.vsctl(&[
                "--no-wait",
                "set",
                "Open_vSwitch",
                ".",
                "other_config:userspace-tso-enable=true",
            ])?;
        }
        let st = Command::new("ovs-vswitchd")
            .envs(env)
            .args([
                &format!("unix:{d}/db.sock"),
                &format!("--pidfile={d}/vswitchd.pid"),
                &format!("--unixctl={d}/vswitchd.ctl"),
                &format!("--log-file={d}/vswitchd.log"),
                "--detach",
            ])
            .status()?;
        if !st.success() {
            bail!("ovs-vswitchd did not start (see {d}/vswitchd.log)");
        }
        let br = format!("rbo{}", tag());
        ovs.vsctl(&["add-br", &br, "--", "set", "bridge", &br, "datapath_type=netdev"])?;
        for p in ports {
            ovs.vsctl(&["add-port", &br, p])?;
        }
        Ok(ovs)
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        let d = self.dir.display().to_string();
        try_run(&["ovs-appctl", "-t", &format!("{d}/vswitchd.ctl"), "exit", "--cleanup"]);
        try_run(&["ovs-appctl", "-t", &format!("{d}/ovsdb.ctl"), "exit"]);
        let _ = std::fs::remove_dir_all(&self.dir);
        for id in &self.at_signal {
            rvs_testbed::forget_at_signal(*id);
        }
    }
}

fn bench_ovs(tso: bool, secs: u32) -> Result<Row> {
    let mut t = Topo::new();
    let (a, b, oa, ob) = t.two_hosts(&[&format!("{A_ADDR}/24")], &[&format!("{B_ADDR}/24")]);
    let _ovs = Ovs::start(tso, &[&oa, &ob])?;
    let name = if tso { "ovs-tso" } else { "ovs" };
    measure(name, &t, &a, &b, (&format!("{oa}i"), &format!("{ob}i")), secs, None)
}

fn row_json(r: &Row) -> Value {
    let num = |v: f64| {
        if v.is_finite() {
            json!((v * 1000.0).round() / 1000.0)
        } else {
            Value::Null
        }
    };
    let mut v = json!({"bench": "netns", "switch": r.name, "tcp_gbps": num(r.tcp_gbps),
           "tcp_nooffload_gbps": num(r.tcp_nooffload_gbps), "udp64_kpps": num(r.udp64_kpps),
           "udp64_loss_pct": num(r.udp64_loss_pct), "ping_under_load_ms": num(r.ping_ms),
           "ping_1000_idle_ms": num(r.ping_1000_ms),
           "tcp_congestion_control": r.cc, "errors": r.errors});
    if !r.probes.is_empty() {
        v["switch_counters"] = r.probes.iter().cloned().collect::<serde_json::Map<_, _>>().into();
    }
    v
}

/// The table, with each figure's ratio to OVS (with TSO for TCP with
/// offloads, plain for the rest) and to the Linux bridge.
fn table(rows: &[Row]) -> String {
    let find = |n: &str| rows.iter().find(|r| r.name == n);
    let ovs = find("ovs");
    let ovs_tso = find("ovs-tso");
    let br = find("linux-bridge");
    let ratio = |v: f64, base: Option<f64>| match base {
        Some(b) if b > 0.0 && v.is_finite() => format!("{:.2}x", v / b),
        _ => "-".into(),
    };
    // Plain OVS delivers no UDP with the kernel's default offloads (iperf3's
    // control connection is TCP): compare UDP with OVS-TSO then.
    let ovs_udp = ovs
        .map(|o| o.udp64_kpps)
        .filter(|v| v.is_finite() && *v > 0.0)
        .or(ovs_tso.map(|o| o.udp64_kpps));
    let mut s = format!(
        "{:<13} {:>9} {:>8} {:>8} {:>11} {:>8} {:>8} {:>10} {:>8} {:>8} {:>7} {:>9} {:>9}\n",
        "switch",
        "tcp Gb/s",
        "/ovs-tso",
        "/bridge",
        "tcp-off",
        "/ovs",
        "/bridge",
        "udp64 kpps",
        "/ovs*",
        "/bridge",
        "loss%",
        "ping ms",
        "ping1k ms"
    );
    for r in rows {
        s += &format!(
            "{:<13} {:>9.2} {:>8} {:>8} {:>11.2} {:>8} {:>8} {:>10.1} {:>8} {:>8} {:>7.2} {:>9.3} {:>9.3}\n",
            r.name,
            r.tcp_gbps,
            ratio(r.tcp_gbps, ovs_tso.map(|o| o.tcp_gbps)),
            ratio(r.tcp_gbps, br.map(|o| o.tcp_gbps)),
            r.tcp_nooffload_gbps,
            ratio(r.tcp_nooffload_gbps, ovs.map(|o| o.tcp_nooffload_gbps)),
            ratio(r.tcp_nooffload_gbps, br.map(|o| o.tcp_nooffload_gbps)),
            r.udp64_kpps,
            ratio(r.udp64_kpps, ovs_udp),
            ratio(r.udp64_kpps, br.map(|o| o.udp64_kpps)),
            r.udp64_loss_pct,
            r.ping_ms,
            r.ping_1000_ms,
        );
    }
    s += "/ovs*: to plain OVS, or to OVS-TSO where plain OVS delivered nothing\n";
    let mut ccs: Vec<&str> = rows.iter().map(|r| r.cc.as_str()).collect();
    ccs.dedup();
    s += &format!("TCP congestion control of the hosts: {}\n", ccs.join(", "));
    s
}

/// Runs the benchmark, handing each row to `out` and returning the table.
pub fn run_all(opts: &Options, out: &mut dyn FnMut(Value)) -> Result<String> {
    if effective_uid() != 0 {
        bail!("rvs-bench netns needs root (it makes network namespaces)");
    }
    for tool in ["iperf3", "ethtool", "ping"] {
        if !have(tool) {
            bail!("{tool} is not installed (apt-get install iperf3 ethtool iputils-ping)");
        }
    }
    TESTS.with(|t| *t.borrow_mut() = opts.tests.clone());
    CC.with(|c| *c.borrow_mut() = opts.cc.clone());
    let want = |n: &str| {
        opts.only.as_deref().is_none_or(|o| {
            o.split(',').any(|w| match w.strip_prefix('=') {
                Some(exact) => n == exact,
                None => n.contains(w),
            })
        })
    };
    let mut rounds = Vec::new();
    for round in 1..=opts.rounds.max(1) {
        let mut rows = Vec::new();
        let mut push = |r: Result<Row>, name: &str, rows: &mut Vec<Row>| match r {
            Ok(r) => {
                let mut v = row_json(&r);
                if opts.rounds > 1 {
                    v["round"] = round.into();
                }
                out(v);
                rows.push(r);
            }
            Err(e) => out(json!({"bench": "netns", "switch": name, "error": e.to_string()})),
        };
        if want("veth") {
            push(bench_veth(opts.secs), "veth", &mut rows);
        }
        if want("linux-bridge") {
            push(bench_bridge(opts.secs), "linux-bridge", &mut rows);
        }
        for v in RVS_VARIANTS {
            if want(v.name) && (v.by_default || opts.only.is_some()) {
                push(bench_rvs(opts, v), v.name, &mut rows);
            }
        }
        if have("ovs-vswitchd") {
            if want("ovs") {
                push(bench_ovs(false, opts.secs), "ovs", &mut rows);
            }
            if want("ovs-tso") {
                push(bench_ovs(true, opts.secs), "ovs-tso", &mut rows);
            }
        } else if round == 1 {
            out(
                json!({"bench": "netns", "switch": "ovs", "error": "ovs-vswitchd is not installed (apt-get install openvswitch-switch)"}),
            );
        }
        rounds.push(rows);
    }
    if rounds.len() == 1 {
        return Ok(table(&rounds[0]));
    }
    let mut s = String::new();
    for (i, rows) in rounds.iter().enumerate() {
        s += &format!("round {}:\n{}\n", i + 1, table(rows));
    }
    s += &summary(&rounds);
    Ok(s)
}

/// The mean of each figure over `rounds` (with its ratios, as [`table`]
/// gives them), then each round's ratios to the bridge.
fn summary(rounds: &[Vec<Row>]) -> String {
    let names: Vec<String> = rounds[0].iter().map(|r| r.name.clone()).collect();
    fn of<'a>(rounds: &'a [Vec<Row>], name: &'a str) -> impl Iterator<Item = &'a Row> + 'a {
        rounds.iter().filter_map(move |rs| rs.iter().find(|r| r.name == name))
    }
    let mean = |xs: Vec<f64>| {
        let xs: Vec<f64> = xs.into_iter().filter(|x| x.is_finite()).collect();
        if xs.is_empty() {
            f64::NAN
        } else {
            xs.iter().sum::<f64>() / xs.len() as f64
        }
    };
    let means: Vec<Row> = names
        .iter()
        .map(|n| {
            let get = |f: fn(&Row) -> f64| mean(of(rounds, n).map(f).collect());
            Row {
                name: n.clone(),
                cc: of(rounds, n).next().map(|r| r.cc.clone()).unwrap_or_default(),
                tcp_gbps: get(|r| r.tcp_gbps),
                tcp_nooffload_gbps: get(|r| r.tcp_nooffload_gbps),
                udp64_kpps: get(|r| r.udp64_kpps),
                udp64_loss_pct: get(|r| r.udp64_loss_pct),
                ping_ms: get(|r| r.ping_ms),
                ping_1000_ms: get(|r| r.ping_1000_ms),
                ..Row::default()
            }
        })
        .collect();
    let mut s = format!("mean of {} rounds:\n{}", rounds.len(), table(&means));
    s += "each round's ratio to the bridge (tcp, tcp-off, udp64):\n";
    for n in names.iter().filter(|n| *n != "linux-bridge") {
        let per = |f: fn(&Row) -> f64| -> String {
            let v: Vec<String> = rounds
                .iter()
                .filter_map(|rs| {
                    let r = rs.iter().find(|r| &r.name == n)?;
                    let b = rs.iter().find(|r| r.name == "linux-bridge")?;
                    let x = f(r) / f(b);
                    x.is_finite().then(|| format!("{x:.2}"))
                })
                .collect();
            if v.is_empty() {
                "-".into()
            } else {
                v.join(" ")
            }
        };
        s += &format!(
            "  {n:<13} tcp {}; tcp-off {}; udp64 {}\n",
            per(|r| r.tcp_gbps),
            per(|r| r.tcp_nooffload_gbps),
            per(|r| r.udp64_kpps)
        );
    }
    s
}

fn effective_uid() -> u32 {
    // Read from /proc to keep this crate free of unsafe code.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(u32::MAX)
}
