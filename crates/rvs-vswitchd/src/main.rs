//! `rvs-vswitchd`: the rvs daemon.
//!
//! One process holds the switch: an embedded OVSDB server with the
//! configuration (a log file under `$RVS_DBDIR`, default `/var/lib/rvs`),
//! the userspace datapath `ovs-netdev` with its poll threads, the bridges
//! (OpenFlow tables, NORMAL, patch ports, revalidator), a reconciler that
//! applies every committed change of the database to them, and the unixctl
//! control socket `$RVS_RUNDIR/rvs-vswitchd.ctl` (default run dir
//! `/run/rvs`) that `rvs-appctl` and `ovs-appctl -t` talk to.
//!
//! ```text
//! rvs-vswitchd [--enable-dummy] [--remote punix:PATH|ptcp:PORT[:IP]]...
//!              [--unixctl PATH] [--pidfile[=FILE]] [--log-file[=FILE]]
//!              [--detach] [--no-chdir] [-v[SPEC]]... [DATABASE]
//! ```
//!
//! `--detach` forks: the parent exits 0 once the daemon listens on its
//! sockets. SIGTERM, SIGINT, SIGHUP and `ovs-appctl exit` shut it down
//! cleanly: the bridges' datapath ports are released, the pidfile and
//! sockets removed, and the exit code is 0.
//!
//! `DATABASE` is a database file (created with rvs's Open_vSwitch schema
//! if missing), or `unix:PATH` / `tcp:IP:PORT` to use an external OVSDB
//! server (such as OVS's `ovsdb-server`) instead of the embedded one; see
//! the `extdb` module. `--enable-dummy` makes every device a dummy netdev, for
//! tests without root, as `ovs-vswitchd --enable-dummy` does.

mod commands;
mod dpctl;
mod extdb;
mod process;
mod reconcile;
mod status;
mod unixctl;
mod vlog;

use anyhow::{anyhow, Context, Result};
use clap::Parser;
use rvs_datapath::clock::MonotonicClock;
use rvs_datapath::{DatapathRegistry, DpClass, DpConfig};
use rvs_ofproto::Backer;
use rvs_ovsdb::server::Server;
use serde_json::json;
use std::path::PathBuf;
use std::sync::Arc;

/// rvs's Open_vSwitch schema.
const SCHEMA: &str = include_str!("../vswitch.ovsschema");

#[derive(Parser, Debug)]
#[command(name = "rvs-vswitchd", version, about = "The rvs virtual switch daemon")]
struct Args {
    /// The database file (default $RVS_DBDIR/conf.db), or `unix:PATH` or
    /// `tcp:IP:PORT` of an external OVSDB server.
    database: Option<PathBuf>,
    /// Extra OVSDB listeners (`punix:PATH` or `ptcp:PORT[:IP]`); db.sock in
    /// the run dir is always served.
    #[arg(long)]
    remote: Vec<String>,
    /// The control socket (default $RVS_RUNDIR/rvs-vswitchd.ctl).
    #[arg(long)]
    unixctl: Option<PathBuf>,
    /// Write the process id here (default $RVS_RUNDIR/rvs-vswitchd.pid).
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    pidfile: Option<String>,
    /// Log to this file as well as stderr (default $RVS_LOGDIR/rvs-vswitchd.log).
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    log_file: Option<String>,
    /// Every device is a dummy netdev (tests without root).
    #[arg(long)]
    enable_dummy: bool,
    /// Datapath poll threads (default: `other_config:n-pmd-threads` of the
    /// Open_vSwitch row, else 1).
    #[arg(long)]
    n_pmd_threads: Option<usize>,
    /// Run in the background; the parent exits once the daemon is ready.
    #[arg(long)]
    detach: bool,
    /// With --detach, do not change to the root directory.
    #[arg(long)]
    no_chdir: bool,
    /// Log levels in OVS's syntax (`module:destination:level`, see
    /// `vlog/set`); without SPEC, everything at dbg.
    #[arg(short = 'v', long = "verbose", num_args = 0..=1, default_missing_value = "")]
    verbose: Vec<String>,
}

fn env_dir(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(default))
}

fn main() -> Result<()> {
    let mut args = Args::parse();
    let rundir = process::absolute(env_dir("RVS_RUNDIR", "/run/rvs"));
    let dbdir = process::absolute(env_dir("RVS_DBDIR", "/var/lib/rvs"));
    // A file path is made absolute (--detach changes directory); a remote
    // (`unix:`, `tcp:`) is left alone.
    args.database = args.database.map(|d| match d.to_str() {
        Some(s) if extdb::is_remote(s) => d,
        _ => process::absolute(d),
    });
    let mut detached = if args.detach { Some(process::detach()?) } else { None };
    process::block_exit_signals().context("blocking signals")?;
    std::fs::create_dir_all(&rundir)
        .with_context(|| format!("creating run dir {}", rundir.display()))?;
    std::fs::create_dir_all(&dbdir)
        .with_context(|| format!("creating database dir {}", dbdir.display()))?;
    let logdir = process::absolute(env_dir("RVS_LOGDIR", "/var/log/rvs"));
    if args.log_file.as_deref() == Some("") {
        std::fs::create_dir_all(&logdir)
            .with_context(|| format!("creating log dir {}", logdir.display()))?;
    }
    let vlog = vlog_init(&args, &logdir)?;

    // One daemon per run dir.
    let lock_path = rundir.join("rvs-vswitchd.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .with_context(|| format!("opening {}", lock_path.display()))?;
    lock.try_lock().map_err(|_| {
        anyhow!(
            "another rvs-vswitchd is already running with run dir {} (lock {} is held)",
            rundir.display(),
            lock_path.display()
        )
    })?;

    // The database: embedded (the default) or an external server.
    let remote = args.database.as_ref().and_then(|p| p.to_str()).filter(|d| extdb::is_remote(d));
    let db_path = args.database.clone().unwrap_or_else(|| dbdir.join("conf.db"));
    let sock = rundir.join("db.sock");
    let server = match remote {
        Some(_) => None,
        None => Some(open_embedded(&args, &db_path, &rundir.join("vswitch.ovsschema"), &sock)?),
    };

    // The datapath and the bridges.
    let reg = DatapathRegistry::default();
    let class = if args.enable_dummy { DpClass::Dummy } else { DpClass::Netdev };
    // Poll threads: --n-pmd-threads, else one on each CPU of
    // other_config:pmd-cpu-mask, else other_config:n-pmd-threads of the
    // embedded database.
    let want = server.as_ref().map(|srv| reconcile::read_dp_want(&srv.database().to_json()));
    let mut cpus = match (&want, args.n_pmd_threads) {
        (Some(w), None) => w.pmd_cpu_mask.value().map(reconcile::mask_cpus).unwrap_or_default(),
        _ => Vec::new(),
    };
    let allowed = rvs_datapath::sys::allowed_cpus().unwrap_or_default();
    if let Some(c) = cpus.iter().find(|c| !allowed.contains(c)) {
        tracing::warn!(
            "other_config:pmd-cpu-mask={:#x} names CPU {c}, which rvs-vswitchd may not run on              (it may run on {allowed:?}): ignored",
            cpus.iter().fold(0u64, |m, c| m | (1 << c))
        );
        cpus.clear();
    }
    let n_threads = match (&want, args.n_pmd_threads) {
        (_, Some(n)) => n.max(1),
        _ if !cpus.is_empty() => cpus.len(),
        (Some(w), _) => w.n_pmd_threads.value().unwrap_or(1).max(1),
        (None, _) => 1,
    };
    let config = DpConfig { n_threads, cpus, ..DpConfig::default() };
    let dp = reg
        .create("ovs-netdev", class, config)
        .map_err(|e| anyhow!("creating the datapath: {e}"))?;
    let backer = Backer::new(dp.clone(), MonotonicClock::new(), true);
    let connmgr = rvs_ofproto::connmgr::ConnMgr::new(backer.clone());
    let rec = Arc::new(
        reconcile::Reconciler::new(backer.clone(), args.enable_dummy)
            .with_openflow(connmgr.clone(), rundir.clone())
            .with_datapath(dp.clone(), n_threads),
    );

    // The control socket.
    let ctl =
        process::absolute(args.unixctl.clone().unwrap_or_else(|| rundir.join("rvs-vswitchd.ctl")));
    let (exit_tx, exit_rx) = std::sync::mpsc::channel::<()>();
    process::spawn_signal_thread(exit_tx.clone()).context("starting the signal thread")?;
    let cmds = commands::register(backer.clone(), dp.clone(), rec.clone(), exit_tx);
    vlog::register(&cmds, &vlog);
    dpctl::register(&cmds, backer.clone(), dp.clone());
    let _ctl = unixctl::Server::start(&ctl, cmds.clone())
        .with_context(|| format!("listening on {}", ctl.display()))?;
    let pid_ctl = rundir.join(format!("rvs-vswitchd.{}.ctl", std::process::id()));
    let _ctl2 = unixctl::Server::start(&pid_ctl, cmds).ok();
    let _pidfile = match &args.pidfile {
        Some(p) => {
            let path =
                if p.is_empty() { rundir.join("rvs-vswitchd.pid") } else { PathBuf::from(p) };
            Some(
                process::Pidfile::create(&process::absolute(path.clone()))
                    .with_context(|| format!("writing {}", path.display()))?,
            )
        }
        None => None,
    };
    if let Some(d) = detached.as_mut() {
        d.ready(args.no_chdir);
    }

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let Some(server) = server else {
        // An external database: its client applies every update.
        let remote = remote.unwrap_or_default().to_string();
        if !args.remote.is_empty() {
            tracing::warn!("--remote is ignored: the database is served by {remote}");
        }
        tracing::info!("rvs-vswitchd ready: database {remote}, control socket {}", ctl.display());
        let stop2 = stop.clone();
        let refresh = status::Refresher::new(backer.clone());
        std::thread::Builder::new()
            .name("extdb".into())
            .spawn(move || extdb::run(&remote, rec, refresh, stop2))?;
        let _ = exit_rx.recv();
        tracing::info!("exiting");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        connmgr.shutdown();
        let bridges: Vec<String> = backer.read().bridges.keys().cloned().collect();
        for b in bridges {
            let _ = backer.del_bridge(&b);
        }
        backer.shutdown();
        let _ = std::fs::remove_file(&pid_ctl);
        return Ok(());
    };
    tracing::info!(
        "rvs-vswitchd ready: database {} on {}, control socket {}",
        db_path.display(),
        sock.display(),
        ctl.display()
    );

    // Apply every commit.
    let (_, changes) = server.subscribe();
    let srv = server.clone();
    let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = stopping.clone();
    let mut refresh = status::Refresher::new(backer.clone());
    let rec_thread = std::thread::Builder::new().name("reconciler".into()).spawn(move || loop {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        let db = srv.database().to_json();
        let mut ops = rec.reconcile(&db);
        ops.extend(refresh.poll(&db));
        if !ops.is_empty() {
            let mut txn = vec![json!("Open_vSwitch")];
            txn.extend(ops);
            let r = srv.transact(&serde_json::Value::Array(txn));
            tracing::debug!("write-back: {r}");
        }
        // Wait for the next commit (or a periodic refresh), then drain.
        match changes.recv_timeout(refresh.wait().min(std::time::Duration::from_secs(1))) {
            Ok(_) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                while changes.try_recv().is_ok() {}
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        }
    })?;

    let _ = exit_rx.recv();
    tracing::info!("exiting");
    // Let an `exit` command's reply go out before its socket closes.
    std::thread::sleep(std::time::Duration::from_millis(50));
    stopping.store(true, std::sync::atomic::Ordering::SeqCst);
    connmgr.shutdown();
    server.stop();
    let _ = rec_thread.join();
    // Release every datapath port the bridges created (taps, internal
    // devices), then stop the revalidator.
    let bridges: Vec<String> = backer.read().bridges.keys().cloned().collect();
    for b in bridges {
        let _ = backer.del_bridge(&b);
    }
    backer.shutdown();
    drop(_ctl);
    drop(_ctl2);
    let _ = std::fs::remove_file(&pid_ctl);
    let _ = std::fs::remove_file(&sock);
    tracing::info!("exited cleanly");
    Ok(())
}

/// Opens (or creates) the embedded database at `db_path` and serves it on
/// `sock` and the `--remote`s.
fn open_embedded(
    args: &Args,
    db_path: &std::path::Path,
    schema_path: &std::path::Path,
    sock: &std::path::Path,
) -> Result<Arc<Server>> {
    std::fs::write(schema_path, SCHEMA).context("writing the schema")?;
    // A database made by an older rvs takes this one's schema, as
    // `ovs-ctl` converts OVS's database at start.
    if db_path.exists() {
        let schema = rvs_ovsdb::Schema::from_file(schema_path).map_err(|e| anyhow!("{e}"))?;
        if rvs_ovsdb::Storage::convert(db_path, &schema).map_err(|e| anyhow!("{e}"))? {
            tracing::info!(
                "database {} converted to schema version {}",
                db_path.display(),
                schema.version().unwrap_or("(none)")
            );
        }
    }
    let server = Arc::new(
        Server::open(db_path, Some(schema_path))
            .map_err(|e| anyhow!("database {}: {e}", db_path.display()))?,
    );
    ensure_root_row(&server)?;
    server.listen(&format!("punix:{}", sock.display())).map_err(|e| anyhow!("{e}"))?;
    for r in &args.remote {
        server.listen(r).map_err(|e| anyhow!("{e}"))?;
    }
    Ok(server)
}

fn ensure_root_row(server: &Server) -> Result<()> {
    let r = server
        .transact(&json!(["Open_vSwitch", {"op": "select", "table": "Open_vSwitch", "where": []}]));
    let empty = r
        .get(0)
        .and_then(|x| x.get("rows"))
        .and_then(|x| x.as_array())
        .is_none_or(|a| a.is_empty());
    if empty {
        let r = server.transact(
            &json!(["Open_vSwitch", {"op": "insert", "table": "Open_vSwitch", "row": {}}]),
        );
        if r.get(0).and_then(|x| x.get("uuid")).is_none() {
            return Err(anyhow!("could not create the Open_vSwitch row: {r}"));
        }
    }
    Ok(())
}

/// Logging as OVS's vlog: stderr, and with `--log-file` a file too;
/// levels from `RVS_LOG` (tracing's syntax, e.g. `info,rvs_ofproto=debug`)
/// then `-v` (OVS's syntax).
fn vlog_init(args: &Args, logdir: &std::path::Path) -> Result<vlog::Vlog> {
    let file = args.log_file.as_ref().map(|f| {
        if f.is_empty() {
            logdir.join("rvs-vswitchd.log")
        } else {
            process::absolute(PathBuf::from(f))
        }
    });
    let v = vlog::Vlog::new(file.clone()).with_context(|| {
        format!("opening log file {}", file.as_deref().unwrap_or(logdir).display())
    })?;
    if let Ok(env) = std::env::var("RVS_LOG") {
        v.apply_env(&env).map_err(|e| anyhow!(e))?;
    }
    for spec in &args.verbose {
        let specs = if spec.is_empty() { vec![] } else { vec![spec.clone()] };
        v.set(&specs).map_err(|e| anyhow!("-v{spec}: {e}"))?;
    }
    tracing::subscriber::set_global_default(v.clone()).context("installing the logger")?;
    Ok(v)
}
