//! OVS's unixctl protocol: JSON-RPC 1.0 requests on a Unix socket, each
//! answered with a string result or an error string, so `ovs-appctl -t
//! SOCKET` and `rvs-appctl` work alike.

use rvs_jsonrpc::{Connection, Message};
use serde_json::Value;
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// A command handler: takes the arguments, returns the text or an error.
pub type Handler = Arc<dyn Fn(&[String]) -> Result<String, String> + Send + Sync>;

/// A command: usage, least and most arguments, handler.
type Entry = (String, usize, usize, Handler);

/// Registered commands with their usage strings.
#[derive(Default, Clone)]
pub struct Commands {
    map: Arc<RwLock<BTreeMap<String, Entry>>>,
}

impl Commands {
    /// Registers `name` taking `min..=max` arguments.
    pub fn register(&self, name: &str, usage: &str, min: usize, max: usize, h: Handler) {
        self.map.write().unwrap().insert(name.to_string(), (usage.to_string(), min, max, h));
    }

    /// `list-commands`' text.
    pub fn list(&self) -> String {
        let mut s = String::from("The available commands are:\n");
        for (name, (usage, _, _, _)) in self.map.read().unwrap().iter() {
            s.push_str(format!("  {:<32} {}", name, usage).trim_end());
            s.push('\n');
        }
        s
    }

    /// Runs one request.
    pub fn call(&self, method: &str, params: &[Value]) -> Result<String, String> {
        let entry = self.map.read().unwrap().get(method).cloned();
        let Some((usage, min, max, h)) = entry else {
            return Err(format!("\"{method}\" is not a valid command (use \"list-commands\" to see a list of valid commands)"));
        };
        let args: Vec<String> = params
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        if args.len() < min {
            return Err(format!(
                "\"{method}\" command requires at least {min} arguments (usage: {method} {usage})"
            ));
        }
        if args.len() > max {
            return Err(format!(
                "\"{method}\" command takes at most {max} arguments (usage: {method} {usage})"
            ));
        }
        h(&args)
    }
}

/// A listening control socket.
pub struct Server {
    path: PathBuf,
    stop: Arc<AtomicBool>,
}

impl Server {
    /// Listens on `path` (mode 0700) and serves `cmds`, one thread per
    /// connection.
    pub fn start(path: &Path, cmds: Commands) -> std::io::Result<Server> {
        let _ = std::fs::remove_file(path);
        let l = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
        let stop = Arc::new(AtomicBool::new(false));
        let st = stop.clone();
        std::thread::Builder::new().name("unixctl".into()).spawn(move || {
            for s in l.incoming() {
                if st.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(s) = s else { continue };
                let cmds = cmds.clone();
                let _ = std::thread::Builder::new()
                    .name("unixctl-conn".into())
                    .spawn(move || serve(s, cmds));
            }
        })?;
        Ok(Server { path: path.to_path_buf(), stop })
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = UnixStream::connect(&self.path);
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve(s: UnixStream, cmds: Commands) {
    let mut c = Connection::new(s);
    loop {
        let msg = match c.recv() {
            Ok(m) => m,
            Err(_) => return,
        };
        if let Message::Request { method, params, id } = msg {
            let reply = match cmds.call(&method, &params) {
                Ok(text) => Message::reply(Value::String(text), id),
                Err(e) => Message::error(Value::String(e + "\n"), id),
            };
            if c.send(&reply).is_err() {
                return;
            }
        }
    }
}
