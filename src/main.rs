//! docker-cr: checkpoint, inspect and restore running Docker containers
//! with CRIU. `main` parses the arguments, sets up logging and the runtime,
//! and hands over to the command's module.

use docker_cr::{cli, commands};

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_logging(cli.verbose);
    init_diagnostics();

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("docker-cr: could not start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(report) => {
            eprintln!("{report:?}");
            ExitCode::FAILURE
        }
    }
}

/// Sets how diagnostics are drawn. Words are never split, because paths and
/// commands in them must stay whole to be copied. Off a terminal, lines are
/// not wrapped at all, for scripts and log files.
fn init_diagnostics() {
    use std::io::IsTerminal;

    let on_terminal = std::io::stderr().is_terminal();
    let _ = miette::set_hook(Box::new(move |_| {
        let options = miette::MietteHandlerOpts::new()
            .break_words(false)
            .word_splitter(textwrap::WordSplitter::NoHyphenation);
        let options = if on_terminal { options } else { options.wrap_lines(false) };
        Box::new(options.build())
    }));
}

/// Sends logs to stderr: warnings only, unless -v or RUST_LOG requests more.
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}
