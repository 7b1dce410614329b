//! rvs-ofctl: manages an OpenFlow switch (rvs or OVS) with `ovs-ofctl`'s
//! commands and output. See [`rvs_cli::ofctl`].

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = rvs_cli::ofctl::run(&args);
    let _ = std::io::stdout().write_all(out.stdout.as_bytes());
    let _ = std::io::stderr().write_all(out.stderr.as_bytes());
    ExitCode::from(u8::try_from(out.code).unwrap_or(1))
}
