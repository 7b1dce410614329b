//! `rvs-ovsdb-server`: the rvs OVSDB server on its own.
//!
//! ```text
//! rvs-ovsdb-server [--remote punix:PATH | --remote ptcp:PORT[:IP]]... [--create SCHEMA] DBFILE
//! ```
//!
//! Serves the database file `DBFILE` (OVS's standalone format, so
//! `ovsdb-tool` reads it too) to RFC 7047 clients such as `ovsdb-client`
//! and `ovs-vsctl` on every `--remote` given (at least one). With
//! `--create SCHEMA`, a missing `DBFILE` is created empty from the schema
//! file; an existing one is opened as it is. Unix sockets are created mode
//! 0700; a stale socket file is replaced.
//!
//! Every committed transaction is on disk before its reply is sent. If the
//! previous run died in the middle of a write, the damaged tail is cut off
//! at start-up and reported on stderr. The server runs until it is killed;
//! killing it, even with SIGKILL, loses no acknowledged transaction.
//!
//! ```text
//! rvs-ovsdb-server --create /usr/share/openvswitch/vswitch.ovsschema \
//!     --remote punix:/tmp/db.sock /tmp/conf.db &
//! ovs-vsctl --db=unix:/tmp/db.sock --no-wait init
//! ovs-vsctl --db=unix:/tmp/db.sock --no-wait add-br br0
//! ```
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use rvs_ovsdb::Server;

const USAGE: &str = "usage: rvs-ovsdb-server [--remote punix:PATH|ptcp:PORT[:IP]]... \
                     [--create SCHEMA] DBFILE";

struct Args {
    remotes: Vec<String>,
    create: Option<PathBuf>,
    db: PathBuf,
}

fn parse_args() -> Result<Args, String> {
    let mut remotes = Vec::new();
    let mut create = None;
    let mut db = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        if let Some(v) = a.strip_prefix("--remote=") {
            remotes.push(v.to_string());
        } else if a == "--remote" {
            remotes.push(value("--remote")?);
        } else if let Some(v) = a.strip_prefix("--create=") {
            create = Some(PathBuf::from(v));
        } else if a == "--create" {
            create = Some(PathBuf::from(value("--create")?));
        } else if a == "-h" || a == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        } else if a.starts_with('-') {
            return Err(format!("unknown option {a}"));
        } else if db.replace(PathBuf::from(&a)).is_some() {
            return Err(format!("more than one DBFILE given ({a})"));
        }
    }
    let db = db.ok_or("no DBFILE given")?;
    if remotes.is_empty() {
        return Err("no --remote given".into());
    }
    Ok(Args { remotes, create, db })
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("rvs-ovsdb-server: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let server = match Server::open(&args.db, args.create.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("rvs-ovsdb-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(t) = server.truncation() {
        eprintln!(
            "rvs-ovsdb-server: {}: cut {} damaged bytes at offset {} ({}); earlier transactions kept",
            args.db.display(),
            t.dropped,
            t.offset,
            t.reason
        );
    }
    for r in &args.remotes {
        match server.listen(r) {
            Ok(bound) => eprintln!("rvs-ovsdb-server: listening on {bound}"),
            Err(e) => {
                eprintln!("rvs-ovsdb-server: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    loop {
        std::thread::park();
    }
}
