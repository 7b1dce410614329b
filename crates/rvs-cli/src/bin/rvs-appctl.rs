//! rvs-appctl: sends a command to a running rvs (or OVS) daemon over its
//! unixctl socket, like `ovs-appctl`.
//!
//! `rvs-appctl [-t|--target TARGET] [--timeout SECS] COMMAND [ARG...]`

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use rvs_cli::appctl::{call, rundir, target_socket, Answer};

const USAGE: &str = "usage: rvs-appctl [-t|--target TARGET] [--timeout SECS] COMMAND [ARG...]";

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("rvs-appctl: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run() -> anyhow::Result<ExitCode> {
    let mut args = std::env::args().skip(1).peekable();
    let mut target = "rvs-vswitchd".to_string();
    let mut timeout = None;
    while let Some(a) = args.peek() {
        if !a.starts_with('-') {
            break;
        }
        let a = args.next().unwrap_or_default();
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        let mut value = |what: &str| {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| anyhow::anyhow!("option {what} needs a value"))
        };
        match name.as_str() {
            "-t" | "--target" => target = value("--target")?,
            "-T" | "--timeout" => {
                let v = value("--timeout")?;
                let secs: u64 = v
                    .parse()
                    .map_err(|_| anyhow::anyhow!("--timeout value {v:?} is not a number"))?;
                timeout = (secs > 0).then(|| Duration::from_secs(secs));
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            "-V" | "--version" => {
                println!("rvs-appctl (rvs) {}", env!("CARGO_PKG_VERSION"));
                return Ok(ExitCode::SUCCESS);
            }
            other => anyhow::bail!("unknown option {other:?} ({USAGE})"),
        }
    }
    let Some(command) = args.next() else {
        anyhow::bail!("at least one non-option argument is required ({USAGE})");
    };
    let rest: Vec<String> = args.collect();
    let socket = target_socket(&target, &rundir());
    match call(&socket, &command, &rest, timeout)? {
        Answer::Result(text) => {
            let mut out = std::io::stdout();
            out.write_all(text.as_bytes())?;
            out.flush()?;
            Ok(ExitCode::SUCCESS)
        }
        Answer::Error(text) => {
            eprint!("{text}");
            if !text.ends_with('\n') {
                eprintln!();
            }
            eprintln!("rvs-appctl: {} server returned an error", socket.display());
            Ok(ExitCode::from(2))
        }
    }
}
