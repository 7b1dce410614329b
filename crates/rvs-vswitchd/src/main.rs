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
//!              [--unixctl PATH] [--pidfile[=FILE]] [--log-file[=FILE]] [DATABASE]
//! ```
//!
//! `DATABASE` is a database file (created with rvs's Open_vSwitch schema
//! if missing), or `unix:PATH` / `tcp:IP:PORT` to use an external OVSDB
//! server (such as OVS's `ovsdb-server`) instead of the embedded one; see
//! the `extdb` module. `--enable-dummy` makes every device a dummy netdev, for
//! tests without root, as `ovs-vswitchd --enable-dummy` does.

mod commands;
mod extdb;
mod reconcile;
mod unixctl;

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
    /// Datapath poll threads.
    #[arg(long, default_value_t = 1)]
    n_pmd_threads: usize,
}

fn env_dir(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(default))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let rundir = env_dir("RVS_RUNDIR", "/run/rvs");
    let dbdir = env_dir("RVS_DBDIR", "/var/lib/rvs");
    std::fs::create_dir_all(&rundir)
        .with_context(|| format!("creating run dir {}", rundir.display()))?;
    std::fs::create_dir_all(&dbdir)
        .with_context(|| format!("creating database dir {}", dbdir.display()))?;
    let logdir = env_dir("RVS_LOGDIR", "/var/log/rvs");
    if args.log_file.as_deref() == Some("") {
        std::fs::create_dir_all(&logdir)
            .with_context(|| format!("creating log dir {}", logdir.display()))?;
    }
    tracing_init(&args, &logdir)?;

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
    if let Some(p) = &args.pidfile {
        let path = if p.is_empty() { rundir.join("rvs-vswitchd.pid") } else { PathBuf::from(p) };
        std::fs::write(&path, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing {}", path.display()))?;
    }

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
    let config = DpConfig { n_threads: args.n_pmd_threads.max(1), ..DpConfig::default() };
    let dp = reg
        .create("ovs-netdev", class, config)
        .map_err(|e| anyhow!("creating the datapath: {e}"))?;
    let backer = Backer::new(dp.clone(), MonotonicClock::new(), true);
    let connmgr = rvs_ofproto::connmgr::ConnMgr::new(backer.clone());
    let rec = Arc::new(
        reconcile::Reconciler::new(backer.clone(), args.enable_dummy)
            .with_openflow(connmgr.clone(), rundir.clone()),
    );

    // The control socket.
    let ctl = args.unixctl.clone().unwrap_or_else(|| rundir.join("rvs-vswitchd.ctl"));
    let (exit_tx, exit_rx) = std::sync::mpsc::channel::<()>();
    let cmds = commands::register(backer.clone(), dp.clone(), rec.clone(), exit_tx);
    let _ctl = unixctl::Server::start(&ctl, cmds.clone())
        .with_context(|| format!("listening on {}", ctl.display()))?;
    let pid_ctl = rundir.join(format!("rvs-vswitchd.{}.ctl", std::process::id()));
    let _ctl2 = unixctl::Server::start(&pid_ctl, cmds).ok();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let Some(server) = server else {
        // An external database: its client applies every update.
        let remote = remote.unwrap_or_default().to_string();
        if !args.remote.is_empty() {
            tracing::warn!("--remote is ignored: the database is served by {remote}");
        }
        tracing::info!("rvs-vswitchd ready: database {remote}, control socket {}", ctl.display());
        let stop2 = stop.clone();
        std::thread::Builder::new()
            .name("extdb".into())
            .spawn(move || extdb::run(&remote, rec, stop2))?;
        let _ = exit_rx.recv();
        tracing::info!("exiting");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
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
    std::thread::Builder::new().name("reconciler".into()).spawn(move || loop {
        let db = srv.database().to_json();
        let ops = rec.reconcile(&db);
        if !ops.is_empty() {
            let mut txn = vec![json!("Open_vSwitch")];
            txn.extend(ops);
            let r = srv.transact(&serde_json::Value::Array(txn));
            tracing::debug!("write-back: {r}");
        }
        // Wait for the next commit (or a periodic refresh), then drain.
        match changes.recv_timeout(std::time::Duration::from_secs(1)) {
            Ok(_) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                while changes.try_recv().is_ok() {}
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        }
    })?;

    let _ = exit_rx.recv();
    tracing::info!("exiting");
    connmgr.shutdown();
    backer.shutdown();
    server.stop();
    let _ = std::fs::remove_file(&pid_ctl);
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

/// Logs go to stderr and, with `--log-file`, to a file too. Levels per
/// module come from `RVS_LOG` (e.g. `info,rvs_ofproto=debug`; default
/// `info`).
fn tracing_init(args: &Args, logdir: &std::path::Path) -> Result<()> {
    use tracing_subscriber::fmt::writer::MakeWriterExt;
    let filter = tracing_subscriber::EnvFilter::try_from_env("RVS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(false);
    match &args.log_file {
        Some(f) => {
            let path =
                if f.is_empty() { logdir.join("rvs-vswitchd.log") } else { PathBuf::from(f) };
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .with_context(|| format!("opening log file {}", path.display()))?;
            builder.with_writer(std::io::stderr.and(std::sync::Mutex::new(file))).init();
        }
        None => builder.with_writer(std::io::stderr).init(),
    }
    Ok(())
}
