//! The `reprise` command: run, serve and manage durable orchestrations.
//!
//! This crate wires the store, the runtime and the executor together and renders what they
//! report. It holds no orchestration logic of its own. It is a library so that end-to-end tests
//! can build the very same command under another name; `src/main.rs` only calls [`main`].

mod cli;
mod commands;
mod deployment;
mod flow_flags;
mod input;
mod progress;
mod render;
mod telemetry;

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
use reprise_executor::ExecutorError;
use reprise_store::StoreError;
use std::process::ExitCode;

/// The exit code of a command refused because the database cannot take it now, though it may
/// later (its disk is full, another process holds it): `EX_TEMPFAIL` of sysexits, which scripts
/// read as "try again".
const EXIT_TRY_AGAIN: u8 = 75;

/// Parses the command line, runs the command, and returns the process's exit code.
pub fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_logging(cli.verbose);
    if let Err(code) = configure_failpoints() {
        return code;
    }
    let traces = match cli.command.otlp_endpoint().map(telemetry::install).transpose() {
        Ok(traces) => traces,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::from(2);
        }
    };
    let code = run(cli.command);
    if let Some(traces) = traces {
        traces.shutdown();
    }
    code
}

/// Runs the command on an async runtime of its own, and says how it ended.
fn run(command: cli::Command) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(commands::dispatch(command)) {
        Ok(code) => code,
        Err(error) if retryable(&error) => {
            eprintln!("error: {error:#}");
            eprintln!("(nothing was done; the condition may pass: try again later)");
            ExitCode::from(EXIT_TRY_AGAIN)
        }
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Whether `error` is the store's word that a later try may succeed.
fn retryable(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause.downcast_ref::<StoreError>().is_some_and(StoreError::is_retryable)
            || matches!(cause.downcast_ref::<ExecutorError>(), Some(ExecutorError::Store(store)) if store.is_retryable())
    })
}

/// Sets the store's fault points from `FAILPOINTS` (see `reprise_store::failpoints`), for
/// fault-injection runs of this very binary; a build without the `failpoints` feature says it
/// ignores them rather than pass a run without faults for one with.
fn configure_failpoints() -> Result<(), ExitCode> {
    #[cfg(feature = "failpoints")]
    match reprise_store::failpoints::configure_from_env() {
        Ok(0) => {}
        Ok(count) => tracing::warn!("FAILPOINTS: {count} fault point(s) configured"),
        Err(error) => {
            eprintln!("error: {error}");
            return Err(ExitCode::from(2));
        }
    }
    #[cfg(not(feature = "failpoints"))]
    if std::env::var_os("FAILPOINTS").is_some() {
        tracing::warn!(
            "FAILPOINTS is set, but this reprise was built without fault points (cargo feature `failpoints`)"
        );
    }
    Ok(())
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
