//! The `reprise` command: run, serve and manage durable orchestrations.
//!
//! This crate wires the store, the runtime and the executor together and renders what they
//! report. It holds no orchestration logic of its own. It is a library so that end-to-end tests
//! can build the very same command under another name; `src/main.rs` only calls [`main`].

mod cli;
mod commands;
mod input;
mod render;

/// Prints a result on stdout. A closed pipe (`reprise history ... | head`) ends the program
/// quietly, as it does for other command-line tools, instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(error) = writeln!(std::io::stdout().lock(), $($arg)*) {
            if error.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
            return Err(error.into());
        }
    }};
}
pub(crate) use out;

use clap::Parser;
use std::process::ExitCode;

/// Parses the command line, runs the command, and returns the process's exit code.
pub fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_logging(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(commands::dispatch(cli.command)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Logs go to stderr, so that stdout carries only results (an output JSON, an instance id).
/// `RUST_LOG` overrides the default levels.
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn,reprise::guest=info,reprise::orchestrator=info",
        1 => "info",
        _ => "debug,cranelift_codegen=info,wasmtime=info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use std::io::IsTerminal as _;
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
