//! Test beds for system tests and benchmarks: network namespaces and veth
//! pairs, removed on drop (even when the test fails). Test hosts live only in
//! namespaces made here, with addresses from 198.18.0.0/15 and 2001:db8::/32;
//! nothing here touches an interface it did not create.
#![warn(missing_docs)]

use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// What this process made and has not removed yet, for
/// [`clean_up_on_signals`]: namespaces, root-namespace links, and
/// commands that stop what was started (by id).
struct Live {
    namespaces: Vec<String>,
    links: Vec<String>,
    commands: Vec<(u32, Vec<String>)>,
}

static LIVE: Mutex<Live> =
    Mutex::new(Live { namespaces: Vec::new(), links: Vec::new(), commands: Vec::new() });

fn live() -> std::sync::MutexGuard<'static, Live> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Registers `cmd` to run if the process is stopped by a signal (see
/// [`clean_up_on_signals`]); [`forget_at_signal`] with the returned id
/// takes it back once the thing it stops is gone.
pub fn at_signal(cmd: &[&str]) -> u32 {
    let id = SEQ.fetch_add(1, Ordering::Relaxed);
    live().commands.push((id, cmd.iter().map(|s| s.to_string()).collect()));
    id
}

/// Takes back a command registered with [`at_signal`].
pub fn forget_at_signal(id: u32) {
    live().commands.retain(|(i, _)| *i != id);
}

/// Makes SIGINT, SIGTERM and SIGHUP remove what this process made (the
/// processes in its namespaces are killed, the commands of [`at_signal`]
/// run, its links and namespaces are deleted) and then end the process,
/// as a test's or a benchmark's drops would have. Call it first thing in
/// `main`, before any other thread starts: the signals are blocked in the
/// threads and taken by a thread of their own. (Child processes start with
/// no signal blocked.)
pub fn clean_up_on_signals() {
    // SAFETY: sigset_t is a plain C struct; an all-zero value is valid
    // storage, and sigemptyset initialises it before any other use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is valid, writable storage for a sigset_t; the signal
    // numbers are valid; pthread_sigmask only reads `set`.
    unsafe {
        libc::sigemptyset(&mut set);
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, sig);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    std::thread::spawn(move || {
        let mut sig: libc::c_int = 0;
        // SAFETY: `set` was initialised above and outlives the call; `sig`
        // is valid, writable storage for the signal number.
        if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
            return;
        }
        eprintln!("signal {sig}: removing what this run made");
        let live = live();
        for ns in &live.namespaces {
            if let Ok(o) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    try_run(&["kill", "-9", pid]);
                }
            }
        }
        for (_, cmd) in &live.commands {
            let args: Vec<&str> = cmd.iter().map(String::as_str).collect();
            try_run(&args);
        }
        for l in &live.links {
            try_run(&["ip", "link", "del", l]);
        }
        for ns in &live.namespaces {
            try_run(&["ip", "netns", "del", ns]);
        }
        std::process::exit(128 + sig);
    });
}

/// True when running as root; otherwise says the test is skipped.
pub fn have_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("SKIPPED {test}: needs root (network namespaces); CI runs it as root");
    }
    root
}

/// Runs a command, returning its output; panics with its stderr if it fails.
pub fn run(args: &[&str]) -> Output {
    let o =
        Command::new(args[0]).args(&args[1..]).output().unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(o.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&o.stderr));
    o
}

/// Runs a command and returns whether it succeeded (output ignored).
pub fn try_run(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A short unique tag for names (interface names are at most 15 bytes).
pub fn tag() -> String {
    format!("{}{}", std::process::id() % 100_000, SEQ.fetch_add(1, Ordering::Relaxed))
}

/// Namespaces and root-namespace links made by a test; all removed on drop.
#[derive(Default)]
pub struct Topo {
    namespaces: Vec<String>,
    links: Vec<String>,
}

impl Topo {
    /// An empty topology.
    pub fn new() -> Self {
        Topo::default()
    }

    /// Makes a namespace with loopback up.
    pub fn netns(&mut self, name: &str) -> String {
        let ns = format!("rvs-{name}-{}", tag());
        run(&["ip", "netns", "add", &ns]);
        self.namespaces.push(ns.clone());
        live().namespaces.push(ns.clone());
        run(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        ns
    }

    /// A veth pair: `outer` in the root namespace (for the switch) and
    /// `eth0`-like `inner` in `ns`, both up, with `addrs` on the inner end.
    pub fn veth(&mut self, ns: &str, outer: &str, addrs: &[&str]) {
        let inner = format!("{outer}i");
        run(&["ip", "link", "add", outer, "type", "veth", "peer", "name", &inner, "netns", ns]);
        self.links.push(outer.to_string());
        live().links.push(outer.to_string());
        run(&["ip", "link", "set", outer, "up"]);
        run(&["ip", "-n", ns, "link", "set", &inner, "up"]);
        for a in addrs {
            if a.contains(':') {
                run(&["ip", "-n", ns, "addr", "add", a, "dev", &inner, "nodad"]);
            } else {
                run(&["ip", "-n", ns, "addr", "add", a, "dev", &inner]);
            }
        }
    }

    /// Two hosts for a switch: namespaces `a` and `b`, each with a veth whose
    /// outer end (in the root namespace, for the switch) is returned, and
    /// whose inner end carries `a_addrs` / `b_addrs`. Returns
    /// `(ns_a, ns_b, outer_a, outer_b)`.
    pub fn two_hosts(
        &mut self,
        a_addrs: &[&str],
        b_addrs: &[&str],
    ) -> (String, String, String, String) {
        let (a, b) = (self.netns("a"), self.netns("b"));
        let (va, vb) = (format!("rva{}", tag()), format!("rvb{}", tag()));
        self.veth(&a, &va, a_addrs);
        self.veth(&b, &vb, b_addrs);
        (a, b, va, vb)
    }

    /// A veth pair straight from `ns1` to `ns2` (no switch between them), with
    /// `addr1` and `addr2`; the ends are named `name` (in `ns1`) and
    /// `name` + "p" (in `ns2`).
    pub fn direct_veth(&mut self, ns1: &str, ns2: &str, name: &str, addr1: &str, addr2: &str) {
        let peer = format!("{name}p");
        run(&[
            "ip", "link", "add", name, "netns", ns1, "type", "veth", "peer", "name", &peer,
            "netns", ns2,
        ]);
        run(&["ip", "-n", ns1, "link", "set", name, "up"]);
        run(&["ip", "-n", ns2, "link", "set", &peer, "up"]);
        run(&["ip", "-n", ns1, "addr", "add", addr1, "dev", name]);
        run(&["ip", "-n", ns2, "addr", "add", addr2, "dev", &peer]);
    }

    /// A Linux bridge in the root namespace over `ports` (links made by
    /// [`Topo::veth`]), up.
    pub fn bridge(&mut self, name: &str, ports: &[&str]) {
        run(&["ip", "link", "add", name, "type", "bridge"]);
        self.links.push(name.to_string());
        live().links.push(name.to_string());
        for p in ports {
            run(&["ip", "link", "set", p, "master", name]);
        }
        run(&["ip", "link", "set", name, "up"]);
    }

    /// Sets the MTU of both ends of a veth made by [`Topo::veth`].
    pub fn set_mtu(&self, ns: &str, outer: &str, mtu: u32) {
        run(&["ip", "link", "set", outer, "mtu", &mtu.to_string()]);
        run(&["ip", "-n", ns, "link", "set", &format!("{outer}i"), "mtu", &mtu.to_string()]);
    }

    /// Remembers a root-namespace link to delete on drop.
    pub fn own_link(&mut self, name: &str) {
        self.links.push(name.to_string());
        live().links.push(name.to_string());
    }

    /// Runs a command in `ns`.
    pub fn exec(&self, ns: &str, args: &[&str]) -> Output {
        let mut v = vec!["ip", "netns", "exec", ns];
        v.extend_from_slice(args);
        Command::new(v[0]).args(&v[1..]).output().expect("ip netns exec")
    }

    /// Pings `dst` from `ns`; true when every reply came back.
    pub fn ping(&self, ns: &str, dst: &str, size: usize, count: u32) -> bool {
        let o = self.exec(
            ns,
            &[
                "ping",
                "-q",
                "-c",
                &count.to_string(),
                "-i",
                "0.2",
                "-W",
                "2",
                "-s",
                &size.to_string(),
                dst,
            ],
        );
        if !o.status.success() {
            eprintln!("ping {dst} -s {size} from {ns}: {}", String::from_utf8_lossy(&o.stdout));
        }
        o.status.success()
    }
}

impl Drop for Topo {
    fn drop(&mut self) {
        for l in &self.links {
            try_run(&["ip", "link", "del", l]);
        }
        for ns in &self.namespaces {
            try_run(&["ip", "netns", "del", ns]);
        }
        let mut live = live();
        live.links.retain(|l| !self.links.contains(l));
        live.namespaces.retain(|n| !self.namespaces.contains(n));
    }
}

/// CPU time (user + system, in clock ticks of 1/100 s) used so far by this
/// process's threads whose name starts with `prefix` (e.g. "pmd-").
pub fn thread_cpu_ticks(prefix: &str) -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return 0 };
    let mut total = 0;
    for t in tasks.flatten() {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if !comm.starts_with(prefix) {
            continue;
        }
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        // Fields after the ")" that ends the name: state is field 3, utime
        // and stime are fields 14 and 15.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let f: Vec<&str> = rest.split_whitespace().collect();
        let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        total += num(11) + num(12);
    }
    total
}
