//! The `reprise` command, built inside this package so that end-to-end tests can run it as a
//! child process (and kill it).

fn main() -> std::process::ExitCode {
    reprise_cli::main()
}
