//! `rvs-appctl`: the client of OVS's unixctl protocol.
//!
//! A daemon's control socket speaks JSON-RPC 1.0: the client sends one
//! request `{"method":COMMAND,"params":[ARG...],"id":0}` and prints the
//! `result` string of the reply as is, or the `error` on stderr (exit code 2),
//! as `ovs-appctl` does.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rvs_jsonrpc::{Connection, Message, Value};

/// The run directory: `$RVS_RUNDIR`, default `/run/rvs`.
pub fn rundir() -> PathBuf {
    std::env::var_os("RVS_RUNDIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/run/rvs"))
}

/// The socket of `target`: a path if it contains a `/` (or ends in `.ctl`),
/// else a daemon name resolved to `<rundir>/<name>.ctl`.
pub fn target_socket(target: &str, rundir: &Path) -> PathBuf {
    if target.contains('/') || target.ends_with(".ctl") {
        PathBuf::from(target)
    } else {
        rundir.join(format!("{target}.ctl"))
    }
}

/// Why a unixctl call failed.
#[derive(Debug, thiserror::Error)]
pub enum AppctlError {
    /// The socket could not be connected.
    #[error("cannot connect to \"{}\" ({source})", path.display())]
    Connect {
        /// The socket.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Sending or receiving failed, or timed out.
    #[error("transaction with \"{}\" failed: {source}", path.display())]
    Transact {
        /// The socket.
        path: PathBuf,
        /// Why.
        source: rvs_jsonrpc::Error,
    },
    /// The daemon answered with something that is neither a reply nor an error.
    #[error("unexpected answer from \"{}\": {answer}", path.display())]
    BadAnswer {
        /// The socket.
        path: PathBuf,
        /// The message, as JSON.
        answer: String,
    },
}

/// The answer of the daemon to a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The command succeeded; the text to print on stdout.
    Result(String),
    /// The command failed; the text to print on stderr.
    Error(String),
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Sends `command` with `args` to the unixctl socket at `socket` and waits
/// for the answer, at most `timeout` if given.
pub fn call(
    socket: &Path,
    command: &str,
    args: &[String],
    timeout: Option<Duration>,
) -> Result<Answer, AppctlError> {
    let mut conn = Connection::connect(socket)
        .map_err(|source| AppctlError::Connect { path: socket.to_path_buf(), source })?;
    let params = args.iter().map(|a| Value::from(a.as_str())).collect();
    let request = Message::request(command, params, Value::from(0));
    let answer = match timeout {
        Some(t) => conn.transact_timeout(request, t),
        None => conn.transact(request),
    }
    .map_err(|source| AppctlError::Transact { path: socket.to_path_buf(), source })?;
    match answer {
        Message::Reply { result, .. } => Ok(Answer::Result(text(&result))),
        Message::Error { error, .. } => Ok(Answer::Error(text(&error))),
        other => {
            Err(AppctlError::BadAnswer { path: socket.to_path_buf(), answer: other.to_string() })
        }
    }
}
