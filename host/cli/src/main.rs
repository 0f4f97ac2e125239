//! The `reprise` binary; everything is in the library.

fn main() -> std::process::ExitCode {
    reprise_cli::main()
}
