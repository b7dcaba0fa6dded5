//! The CRIU adapter: a client of CRIU's RPC protocol (`criu swrk`), the
//! runc-compatible dump options, and the rules of which CRIU release works
//! on which kernel.
//!
//! Nothing here depends on Docker: callers hand in paths, PIDs and mount
//! lists, and get back CRIU's answers or typed errors that keep "CRIU could
//! not be run" apart from "CRIU ran and failed".

pub mod compat;
pub mod hints;
pub mod options;
pub mod rpc;
pub mod runc_config;

use std::path::PathBuf;

use miette::Diagnostic;
use thiserror::Error;

/// The messages of CRIU's RPC protocol, generated from proto/criu/rpc.proto.
pub mod proto {
    #![allow(clippy::all, missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/criu.rpc.rs"));
}

pub use compat::{CriuVersion, KernelVersion};
pub use rpc::{CriuClient, DumpOutcome};

/// The environment variable that names the CRIU binary when `--criu` does not.
pub const CRIU_ENV: &str = "DOCKER_CR_CRIU";

/// The log line CRIU prints on every run on hosts whose hard limit on open
/// files is below what CRIU requests. It is harmless and never the cause of a
/// failure, so it is left out of every excerpt shown to the user.
pub const HARMLESS_RLIMIT_LINE: &str = "Can't setup RLIMIT_NOFILE for self";

#[derive(Debug, Error, Diagnostic)]
pub enum CriuError {
    #[error("could not start CRIU ({binary})")]
    #[diagnostic(
        code(docker_cr::criu::spawn),
        help(
            "install CRIU 4.2 or newer (scripts/setup-host.sh does this), or point --criu \
             or DOCKER_CR_CRIU at the binary"
        )
    )]
    Spawn {
        binary: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("the RPC socket to CRIU failed while {action}")]
    #[diagnostic(code(docker_cr::criu::socket))]
    Socket {
        action: &'static str,
        #[source]
        source: nix::Error,
    },

    #[error("CRIU exited before answering the {request} request ({status})")]
    #[diagnostic(
        code(docker_cr::criu::exited),
        help("{}", log_help(log_path.as_ref()))
    )]
    Exited {
        request: &'static str,
        status: String,
        log_path: Option<PathBuf>,
    },

    #[error("CRIU sent a message that is not a valid response")]
    #[diagnostic(code(docker_cr::criu::protocol))]
    Decode {
        #[source]
        source: prost::DecodeError,
    },

    #[error("CRIU answered a {request} request with a {answer} response")]
    #[diagnostic(code(docker_cr::criu::protocol))]
    UnexpectedResponse {
        request: &'static str,
        answer: String,
    },

    #[error("CRIU's {request} failed{}{}", errno_text(*errno), message_text(message.as_deref()))]
    #[diagnostic(code(docker_cr::criu::failed), help("{}", failure_help(log_path.as_ref(), log_excerpt)))]
    Failed {
        request: &'static str,
        errno: Option<i32>,
        message: Option<String>,
        log_path: Option<PathBuf>,
        /// The first meaningful error lines of the log, if it could be read.
        log_excerpt: Vec<String>,
    },

    #[error("CRIU {found} is too old for kernel {kernel}")]
    #[diagnostic(code(docker_cr::criu::too_old), help("{reason}; install CRIU {needed} or newer (scripts/setup-host.sh does this)"))]
    TooOld {
        found: CriuVersion,
        needed: CriuVersion,
        kernel: KernelVersion,
        reason: String,
    },

    #[error("could not open the images folder {path}")]
    #[diagnostic(code(docker_cr::criu::images_dir))]
    ImagesDir {
        path: PathBuf,
        #[source]
        source: nix::Error,
    },
}

fn errno_text(errno: Option<i32>) -> String {
    match errno {
        Some(errno) if errno != 0 => format!(" (errno {errno}: {})", nix::errno::Errno::from_raw(errno).desc()),
        _ => String::new(),
    }
}

fn message_text(message: Option<&str>) -> String {
    match message {
        Some(message) if !message.is_empty() => format!(": {message}"),
        _ => String::new(),
    }
}

fn log_help(log_path: Option<&PathBuf>) -> String {
    match log_path {
        Some(path) => format!("CRIU's log is at {}", path.display()),
        None => "run with --log-level 4 and look at CRIU's log".to_string(),
    }
}

fn failure_help(log_path: Option<&PathBuf>, excerpt: &[String]) -> String {
    let mut help = String::new();
    if let Some(hint) = hints::hint_for(excerpt) {
        help.push_str(hint);
        help.push('\n');
    }
    if !excerpt.is_empty() {
        help.push_str("CRIU's log says:\n");
        for line in excerpt {
            help.push_str("  ");
            help.push_str(line);
            help.push('\n');
        }
    }
    help.push_str(&log_help(log_path));
    help
}

/// Returns the first error lines of a CRIU log, skipping the harmless ones.
///
/// CRIU marks errors with "Error (" and the failing step often repeats the
/// cause on later lines, so a handful of lines from the top is what a user
/// needs.
pub fn log_error_excerpt(log: &str, max_lines: usize) -> Vec<String> {
    log.lines()
        .filter(|line| line.contains("Error (") || line.contains("Error:"))
        .filter(|line| !line.contains(HARMLESS_RLIMIT_LINE))
        .take(max_lines)
        .map(|line| line.trim().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_skips_rlimit_line() {
        let log = "\
(00.000010) Error (criu/util.c:1): rlimit: Can't setup RLIMIT_NOFILE for self
(00.001000) Version: 4.2.1
(00.020000) Error (criu/mount.c:1): mnt: No mapping for 123:(null) mountpoint
(00.020100) Error (criu/cr-dump.c:2): Dumping FAILED.
";
        let excerpt = log_error_excerpt(log, 5);
        assert_eq!(excerpt.len(), 2);
        assert!(excerpt[0].contains("No mapping for"));
        assert!(excerpt[1].contains("Dumping FAILED"));
    }

    #[test]
    fn excerpt_respects_max_lines() {
        let log = "Error (a): one\nError (b): two\nError (c): three\n";
        assert_eq!(log_error_excerpt(log, 2).len(), 2);
    }
}
