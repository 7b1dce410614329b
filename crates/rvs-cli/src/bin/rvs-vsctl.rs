//! rvs-vsctl: configures rvs (or OVS) through its OVSDB database with
//! `ovs-vsctl`'s command syntax. See [`rvs_cli::vsctl`].

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = rvs_cli::vsctl::run(&args);
    let _ = std::io::stdout().write_all(out.stdout.as_bytes());
    let _ = std::io::stderr().write_all(out.stderr.as_bytes());
    ExitCode::from(u8::try_from(out.code).unwrap_or(1))
}
