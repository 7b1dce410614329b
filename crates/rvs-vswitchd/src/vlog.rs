//! OVS's logging model (`lib/vlog.c`) on top of `tracing`.
//!
//! Every log message belongs to a *module* and goes to up to three
//! *destinations* (`console` = stderr, `syslog`, `file` = `--log-file`),
//! each with its own level per module: `off`, `emer`, `err`, `warn`,
//! `info`, `dbg`. rvs's modules are its crates, named by the first
//! segment of a `tracing` target (`rvs_ofproto::xlate` logs as
//! `rvs_ofproto`); events of other targets (dependencies) follow the
//! levels last set for every module.
//!
//! [`Vlog`] is a `tracing::Subscriber` that keeps the level table itself,
//! so `vlog/set` changes levels live: each change rebuilds tracing's
//! callsite interest cache, and a disabled callsite costs one branch as
//! before. Messages are formatted with OVS's patterns (`%D{...}`, `%05N`,
//! `%c`, `%T`, `%p`, `%m`, ...), changeable with `vlog/set
//! PATTERN:destination:pattern`. `tracing` has no emergency level:
//! `emer` lets nothing through (tracing's `TRACE` counts as `dbg`).
//!
//! Defaults, as OVS: every module at `info` on every destination. The
//! `RVS_LOG` environment variable (`info,rvs_ofproto=debug`, tracing's
//! syntax) and `-v`/`--verbose=SPEC` (OVS's syntax) change them at
//! startup.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

/// The modules `vlog/list` shows: rvs's crates.
pub const MODULES: &[&str] =
    &["rvs_datapath", "rvs_jsonrpc", "rvs_ofproto", "rvs_ovsdb", "rvs_packet", "rvs_vswitchd"];

/// A vlog level, most severe first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Nothing is logged.
    Off,
    /// Emergencies only.
    Emer,
    /// Errors.
    Err,
    /// Warnings.
    Warn,
    /// Information.
    Info,
    /// Debugging.
    Dbg,
}

impl Level {
    const ALL: [Level; 6] =
        [Level::Off, Level::Emer, Level::Err, Level::Warn, Level::Info, Level::Dbg];

    /// OVS's upper-case name (`vlog/list`, `%p`).
    pub fn name(self) -> &'static str {
        match self {
            Level::Off => "OFF",
            Level::Emer => "EMER",
            Level::Err => "ERR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Dbg => "DBG",
        }
    }

    fn parse(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.name().eq_ignore_ascii_case(s))
    }

    fn from_tracing(l: &tracing::Level) -> Level {
        match *l {
            tracing::Level::ERROR => Level::Err,
            tracing::Level::WARN => Level::Warn,
            tracing::Level::INFO => Level::Info,
            _ => Level::Dbg,
        }
    }

    /// (syslog priority, RFC 5424 severity), as OVS maps them.
    fn syslog(self) -> (libc::c_int, u32) {
        match self {
            Level::Off | Level::Emer => (libc::LOG_ALERT, 1),
            Level::Err => (libc::LOG_ERR, 3),
            Level::Warn => (libc::LOG_WARNING, 4),
            Level::Info => (libc::LOG_NOTICE, 5),
            Level::Dbg => (libc::LOG_DEBUG, 7),
        }
    }
}

/// A log destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Destination {
    /// Standard error.
    Console = 0,
    /// The system log.
    Syslog = 1,
    /// The `--log-file`.
    File = 2,
}

impl Destination {
    const ALL: [Destination; 3] = [Destination::Console, Destination::Syslog, Destination::File];

    fn name(self) -> &'static str {
        match self {
            Destination::Console => "console",
            Destination::Syslog => "syslog",
            Destination::File => "file",
        }
    }

    fn parse(s: &str) -> Option<Destination> {
        Destination::ALL.into_iter().find(|d| d.name().eq_ignore_ascii_case(s))
    }
}

const DEFAULT_PATTERNS: [&str; 3] = [
    "%D{%Y-%m-%dT%H:%M:%SZ}|%05N|%c%T|%p|%m",
    "ovs|%05N|%c%T|%p|%m",
    "%D{%Y-%m-%dT%H:%M:%S.###Z}|%05N|%c%T|%p|%m",
];

/// One parsed `vlog/set` spec, applied only once every spec parsed.
enum Spec {
    Levels { module: Option<String>, dest: Option<Destination>, level: Level },
    Pattern { dest: Destination, pattern: String },
}

type Levels = [Level; 3];

struct State {
    /// Levels by module; `None` is the row for targets outside [`MODULES`].
    levels: BTreeMap<Option<String>, Levels>,
    patterns: [String; 3],
}

struct LogFile {
    path: PathBuf,
    file: Option<std::fs::File>,
}

struct Inner {
    state: RwLock<State>,
    file: Mutex<Option<LogFile>>,
    serial: AtomicU64,
    start: Instant,
    syslog_open: AtomicBool,
}

/// The logging state: a `tracing` subscriber and its unixctl controls.
#[derive(Clone)]
pub struct Vlog {
    inner: Arc<Inner>,
}

impl Vlog {
    /// A logger with OVS's defaults (every module at `info`), logging to a
    /// file too when `log_file` is given (opened now, in append mode).
    pub fn new(log_file: Option<PathBuf>) -> std::io::Result<Vlog> {
        let mut levels = BTreeMap::new();
        levels.insert(None, [Level::Info; 3]);
        for m in MODULES {
            levels.insert(Some(m.to_string()), [Level::Info; 3]);
        }
        let file = match log_file {
            Some(path) => {
                let f = open_append(&path)?;
                Some(LogFile { path, file: Some(f) })
            }
            None => None,
        };
        Ok(Vlog {
            inner: Arc::new(Inner {
                state: RwLock::new(State {
                    levels,
                    patterns: DEFAULT_PATTERNS.map(str::to_string),
                }),
                file: Mutex::new(file),
                serial: AtomicU64::new(0),
                start: Instant::now(),
                syslog_open: AtomicBool::new(false),
            }),
        })
    }

    /// Applies `RVS_LOG`-style directives (`info,rvs_ofproto=debug`) to
    /// every destination.
    pub fn apply_env(&self, directives: &str) -> Result<(), String> {
        let mut specs = Vec::new();
        for d in directives.split(',').map(str::trim).filter(|d| !d.is_empty()) {
            let (module, level) = match d.split_once('=') {
                Some((m, l)) => (Some(m.trim()), l.trim()),
                None => (None, d),
            };
            let level = match level.to_ascii_lowercase().as_str() {
                "error" => Level::Err,
                "debug" | "trace" => Level::Dbg,
                l => Level::parse(l)
                    .ok_or_else(|| format!("RVS_LOG: unknown level \"{level}\" in \"{d}\""))?,
            };
            let module = match module {
                // vlog's modules are whole crates: `rvs_ofproto::xlate`
                // sets `rvs_ofproto`.
                Some(m) => {
                    Some(self.module(m.split("::").next().unwrap_or(m)).ok_or_else(|| {
                        format!("RVS_LOG: unknown module \"{m}\" in \"{d}\" (see vlog/list)")
                    })?)
                }
                None => None,
            };
            specs.push(Spec::Levels { module, dest: None, level });
        }
        self.apply(specs);
        Ok(())
    }

    fn module(&self, word: &str) -> Option<String> {
        MODULES.iter().find(|m| m.eq_ignore_ascii_case(word)).map(|m| m.to_string())
    }

    fn parse_spec(&self, s: &str) -> Result<Spec, String> {
        if s.len() >= 8 && s[..8].eq_ignore_ascii_case("PATTERN:") {
            let rest = &s[8..];
            let (dest, pattern) = rest.split_once(':').unwrap_or((rest, ""));
            if dest.is_empty() {
                return Err("missing destination".into());
            }
            let d = Destination::parse(dest);
            return match d {
                Some(dest) => Ok(Spec::Pattern { dest, pattern: pattern.to_string() }),
                None if dest.eq_ignore_ascii_case("any") => Err(
                    "destination ANY is not supported for patterns (name one of console, syslog, file)"
                        .into(),
                ),
                None => Err(format!("unknown destination \"{dest}\"")),
            };
        }
        if s.len() >= 9 && s[..9].eq_ignore_ascii_case("FACILITY:") {
            return Err(format!(
                "\"{s}\": setting the syslog facility is not supported (rvs logs as daemon)"
            ));
        }
        let (mut module, mut dest, mut level) = (None, None, None);
        for word in s.split([' ', ',', ':', '\t']).filter(|w| !w.is_empty()) {
            if word.eq_ignore_ascii_case("ANY") {
                continue;
            } else if let Some(d) = Destination::parse(word) {
                if dest.is_some() {
                    return Err("cannot specify more than one destination".into());
                }
                dest = Some(d);
            } else if let Some(l) = Level::parse(word) {
                if level.is_some() {
                    return Err("cannot specify more than one level".into());
                }
                level = Some(l);
            } else if let Some(m) = self.module(word) {
                if module.is_some() {
                    return Err("cannot specify more than one module".into());
                }
                module = Some(m);
            } else {
                return Err(format!("no destination, level, or module \"{word}\""));
            }
        }
        Ok(Spec::Levels { module, dest, level: level.unwrap_or(Level::Dbg) })
    }

    /// `vlog/set`: parses every spec first, so a bad one changes nothing.
    /// No spec sets everything to `dbg`.
    pub fn set(&self, specs: &[String]) -> Result<(), String> {
        let parsed = if specs.is_empty() {
            vec![Spec::Levels { module: None, dest: None, level: Level::Dbg }]
        } else {
            specs.iter().map(|s| self.parse_spec(s)).collect::<Result<Vec<_>, _>>()?
        };
        self.apply(parsed);
        Ok(())
    }

    fn apply(&self, specs: Vec<Spec>) {
        {
            let mut st = self.inner.state.write().unwrap();
            for spec in specs {
                match spec {
                    Spec::Levels { module, dest, level } => {
                        for (m, lv) in st.levels.iter_mut() {
                            if module.is_some() && *m != module {
                                continue;
                            }
                            for d in Destination::ALL {
                                if dest.is_none_or(|x| x == d) {
                                    lv[d as usize] = level;
                                }
                            }
                        }
                    }
                    Spec::Pattern { dest, pattern } => st.patterns[dest as usize] = pattern,
                }
            }
        }
        tracing::callsite::rebuild_interest_cache();
    }

    /// `vlog/list`'s table.
    pub fn list(&self) -> String {
        let st = self.inner.state.read().unwrap();
        let mut s = String::from("                 console    syslog    file\n");
        s.push_str("                 -------    ------    ------\n");
        for (m, lv) in st.levels.iter() {
            let Some(m) = m else { continue };
            let _ = writeln!(
                s,
                "{:<16}  {:>4}       {:>4}       {:>4}",
                m,
                lv[0].name(),
                lv[1].name(),
                lv[2].name()
            );
        }
        s
    }

    /// `vlog/list-pattern`'s table.
    pub fn list_patterns(&self) -> String {
        let st = self.inner.state.read().unwrap();
        let mut s = String::from("         prefix                            format\n");
        s.push_str("         ------                            ------\n");
        for d in Destination::ALL {
            let _ = writeln!(s, "{:<7}  {:<32}  {}", d.name(), "none", st.patterns[d as usize]);
        }
        s
    }

    /// `vlog/reopen`: closes and reopens the log file (after logrotate).
    pub fn reopen(&self) -> Result<(), String> {
        let mut g = self.inner.file.lock().unwrap();
        let Some(lf) = g.as_mut() else {
            return Err("Logging to file not configured".into());
        };
        lf.file = None;
        lf.file = Some(
            open_append(&lf.path).map_err(|e| format!("reopening {}: {e}", lf.path.display()))?,
        );
        Ok(())
    }

    /// `vlog/close`: closes the log file until the next `vlog/reopen`.
    pub fn close(&self) {
        if let Some(lf) = self.inner.file.lock().unwrap().as_mut() {
            lf.file = None;
        }
    }

    fn levels_of(&self, target: &str) -> Levels {
        let st = self.inner.state.read().unwrap();
        let m = target.split("::").next().unwrap_or(target);
        let key = MODULES.iter().find(|x| **x == m).map(|x| x.to_string());
        st.levels.get(&key).or_else(|| st.levels.get(&None)).copied().unwrap_or([Level::Info; 3])
    }

    fn enabled_for(&self, meta: &Metadata<'_>) -> bool {
        if !meta.is_event() {
            return false;
        }
        let l = Level::from_tracing(meta.level());
        self.levels_of(meta.target()).iter().any(|d| l <= *d && *d > Level::Emer)
    }

    fn write(&self, module: &str, level: Level, msg: &str) {
        let levels = self.levels_of(module);
        let on = |d: Destination| levels[d as usize] > Level::Emer && level <= levels[d as usize];
        if !Destination::ALL.into_iter().any(on) {
            return;
        }
        let serial = self.inner.serial.fetch_add(1, Ordering::Relaxed) + 1;
        let patterns = self.inner.state.read().unwrap().patterns.clone();
        let module = module.split("::").next().unwrap_or(module);
        let ctx = Ctx { module, level, msg, serial, start: self.inner.start };
        if on(Destination::Console) {
            let line = format_line(&patterns[0], &ctx) + "\n";
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
        if on(Destination::Syslog) {
            self.syslog(level, &format_line(&patterns[1], &ctx));
        }
        if on(Destination::File) {
            if let Some(f) = self.inner.file.lock().unwrap().as_mut().and_then(|l| l.file.as_mut())
            {
                let line = format_line(&patterns[2], &ctx) + "\n";
                let _ = f.write_all(line.as_bytes());
            }
        }
    }

    fn syslog(&self, level: Level, line: &str) {
        static IDENT: &std::ffi::CStr = c"rvs-vswitchd";
        if !self.inner.syslog_open.swap(true, Ordering::SeqCst) {
            // SAFETY: IDENT is a static NUL-terminated string, which openlog
            // may keep a pointer to for the life of the process.
            unsafe { libc::openlog(IDENT.as_ptr(), libc::LOG_NDELAY, libc::LOG_DAEMON) };
        }
        let Ok(c) = CString::new(line.replace('\0', " ")) else { return };
        // SAFETY: both pointers are NUL-terminated strings alive for the
        // call; the "%s" format consumes exactly the one argument given.
        unsafe { libc::syslog(level.syslog().0, c"%s".as_ptr(), c.as_ptr()) };
    }
}

fn open_append(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new().create(true).append(true).open(path)
}

struct Ctx<'a> {
    module: &'a str,
    level: Level,
    msg: &'a str,
    serial: u64,
    start: Instant,
}

/// Expands an OVS log pattern (see `ovs-appctl(8)`, `vlog/set PATTERN`).
fn format_line(pattern: &str, ctx: &Ctx<'_>) -> String {
    let mut out = String::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let left = chars.next_if_eq(&'-').is_some();
        let zero = chars.next_if_eq(&'0').is_some();
        let mut width = 0usize;
        while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
            width = width * 10 + d as usize;
            chars.next();
        }
        let Some(spec) = chars.next() else { break };
        let mut arg = None;
        if matches!(spec, 'd' | 'D') && chars.peek() == Some(&'{') {
            chars.next();
            let a: String = chars.by_ref().take_while(|c| *c != '}').collect();
            arg = Some(a);
        }
        let thread = std::thread::current();
        let sub = thread.name().filter(|n| *n != "main");
        let text = match spec {
            'A' => "rvs-vswitchd".to_string(),
            'B' => (8 * 3 + ctx.level.syslog().1).to_string(),
            'c' => ctx.module.to_string(),
            'd' => strftime(arg.as_deref().unwrap_or("%Y-%m-%d %H:%M:%S"), false),
            'D' => strftime(arg.as_deref().unwrap_or("%Y-%m-%d %H:%M:%S"), true),
            'E' => hostname(),
            'm' => ctx.msg.to_string(),
            'N' => ctx.serial.to_string(),
            'n' => "\n".to_string(),
            'p' => ctx.level.name().to_string(),
            'P' => std::process::id().to_string(),
            'r' => ctx.start.elapsed().as_millis().to_string(),
            't' => sub.unwrap_or("main").to_string(),
            'T' => sub.map(|s| format!("({s})")).unwrap_or_default(),
            '%' => "%".to_string(),
            other => format!("%{other}"),
        };
        let pad = width.saturating_sub(text.chars().count());
        if left {
            out.push_str(&text);
            out.extend(std::iter::repeat_n(' ', pad));
        } else {
            out.extend(std::iter::repeat_n(if zero { '0' } else { ' ' }, pad));
            out.push_str(&text);
        }
    }
    out
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// strftime(3) of now, UTC or local, with OVS's extension: each `#` is a
/// digit of the fractional second.
fn strftime(fmt: &str, utc: bool) -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = now.as_secs() as libc::time_t;
    // SAFETY: an all-zero `tm` is a valid value of this plain C struct.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: both pointers are to live locals of the right types; the _r
    // variants write only into `tm`.
    let ok = unsafe {
        if utc {
            !libc::gmtime_r(&secs, &mut tm).is_null()
        } else {
            !libc::localtime_r(&secs, &mut tm).is_null()
        }
    };
    let Ok(cfmt) = CString::new(fmt) else { return String::new() };
    let mut buf = [0u8; 256];
    let n = if ok {
        // SAFETY: `buf` is writable for its length, which is passed;
        // `cfmt` is NUL-terminated and `tm` initialised above.
        unsafe { libc::strftime(buf.as_mut_ptr().cast(), buf.len(), cfmt.as_ptr(), &tm) }
    } else {
        0
    };
    let s = String::from_utf8_lossy(&buf[..n]).into_owned();
    let frac = format!("{:09}", now.subsec_nanos());
    let mut digits = frac.chars().take(3).chain(std::iter::repeat('0'));
    s.chars().map(|c| if c == '#' { digits.next().unwrap_or('0') } else { c }).collect()
}

/// Collects an event's message and fields.
#[derive(Default)]
struct Message(String, String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.1, " {}={value:?}", field.name());
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.push_str(value);
        } else {
            let _ = write!(self.1, " {}={value}", field.name());
        }
    }
}

impl Subscriber for Vlog {
    fn register_callsite(&self, meta: &'static Metadata<'static>) -> Interest {
        if self.enabled_for(meta) {
            Interest::always()
        } else {
            Interest::never()
        }
    }

    fn enabled(&self, meta: &Metadata<'_>) -> bool {
        self.enabled_for(meta)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        let st = self.inner.state.read().unwrap();
        let max = st.levels.values().flat_map(|l| l.iter()).max().copied().unwrap_or(Level::Off);
        Some(match max {
            Level::Off | Level::Emer => LevelFilter::OFF,
            Level::Err => LevelFilter::ERROR,
            Level::Warn => LevelFilter::WARN,
            Level::Info => LevelFilter::INFO,
            Level::Dbg => LevelFilter::TRACE,
        })
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut m = Message::default();
        event.record(&mut m);
        let meta = event.metadata();
        self.write(meta.target(), Level::from_tracing(meta.level()), &(m.0 + &m.1));
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

/// Registers `vlog/list`, `vlog/set`, `vlog/list-pattern`, `vlog/reopen`
/// and `vlog/close`.
pub fn register(c: &crate::unixctl::Commands, vlog: &Vlog) {
    let v = vlog.clone();
    c.register("vlog/list", "", 0, 0, Arc::new(move |_| Ok(v.list())));
    let v = vlog.clone();
    c.register("vlog/list-pattern", "", 0, 0, Arc::new(move |_| Ok(v.list_patterns())));
    let v = vlog.clone();
    c.register(
        "vlog/set",
        "{spec | PATTERN:destination:pattern}",
        0,
        usize::MAX,
        Arc::new(move |a| v.set(a).map(|_| String::new())),
    );
    let v = vlog.clone();
    c.register("vlog/reopen", "", 0, 0, Arc::new(move |_| v.reopen().map(|_| String::new())));
    let v = vlog.clone();
    c.register(
        "vlog/close",
        "",
        0,
        0,
        Arc::new(move |_| {
            v.close();
            Ok(String::new())
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_parses_ovs_specs_and_bad_ones_change_nothing() {
        let v = Vlog::new(None).unwrap();
        v.set(&["rvs_ofproto:file:dbg".into(), "console:off".into()]).unwrap();
        let l = v.list();
        assert!(l.contains("rvs_ofproto        OFF       INFO        DBG\n"), "{l}");
        assert!(l.contains("rvs_datapath       OFF       INFO       INFO\n"), "{l}");
        let before = v.list();
        let e = v.set(&["ANY:syslog:warn".into(), "nosuch:dbg".into()]).unwrap_err();
        assert_eq!(e, "no destination, level, or module \"nosuch\"");
        assert_eq!(v.list(), before);
        assert_eq!(
            v.set(&["console:file".into()]).unwrap_err(),
            "cannot specify more than one destination"
        );
        assert_eq!(v.set(&["info,dbg".into()]).unwrap_err(), "cannot specify more than one level");
        v.set(&[]).unwrap();
        assert!(v.list().contains("rvs_packet         DBG        DBG        DBG\n"));
        v.set(&["PATTERN:console:%c|%p|%m".into()]).unwrap();
        assert!(v
            .list_patterns()
            .contains("console  none                              %c|%p|%m\n"));
        assert_eq!(
            v.set(&["PATTERN:nowhere:%m".into()]).unwrap_err(),
            "unknown destination \"nowhere\""
        );
    }

    #[test]
    fn patterns_expand_like_ovs() {
        let ctx = Ctx {
            module: "rvs_ofproto",
            level: Level::Warn,
            msg: "hello",
            serial: 7,
            start: Instant::now(),
        };
        assert_eq!(
            format_line("%05N|%c|%p|%m|%%|%-6p|%6p", &ctx),
            "00007|rvs_ofproto|WARN|hello|%|WARN  |  WARN"
        );
        let d = format_line("%D{%Y-%m-%dT%H:%M:%S.###Z}", &ctx);
        assert_eq!(d.len(), "2026-01-01T00:00:00.000Z".len(), "{d}");
        assert!(d.ends_with('Z') && !d.contains('#'), "{d}");
    }

    #[test]
    fn env_directives_map_to_levels() {
        let v = Vlog::new(None).unwrap();
        v.apply_env("warn,rvs_ofproto::xlate=debug").unwrap();
        let l = v.list();
        assert!(l.contains("rvs_ofproto        DBG        DBG        DBG\n"), "{l}");
        assert!(l.contains("rvs_ovsdb         WARN       WARN       WARN\n"), "{l}");
        assert!(v.apply_env("rvs_nothing=info").is_err());
    }
}
