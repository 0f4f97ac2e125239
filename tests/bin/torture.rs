//! `torture`: the fault suite from the command line (`cargo xtask torture` runs it). Runs the
//! seeded workload against `reprise serve`, SIGKILLing it once per round, then checks every
//! invariant; prints the run's figures and every violation, and exits 1 if there is any.

use anyhow::Context as _;
use clap::Parser;
use reprise_tests::torture::{self, Config};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// Kill `reprise serve` at random moments, round after round, and check that nothing is lost.
#[derive(Debug, Parser)]
#[command(name = "torture", max_term_width = 100)]
struct Args {
    /// Rounds: each starts a host and SIGKILLs it (so this is the number of kills).
    #[arg(long, default_value_t = 20)]
    rounds: u32,
    /// The seed of the workload and of the kill moments (a new one is drawn and printed if
    /// none is given).
    #[arg(long)]
    seed: Option<u64>,
    /// Instances to start, spread over the rounds (3 per round by default).
    #[arg(long)]
    instances: Option<u32>,
    /// Fail if the run has not finished after this long, in seconds (6 per round plus 300 by
    /// default).
    #[arg(long, value_name = "SECONDS")]
    deadline: Option<u64>,
    /// The `reprise` command to torture (by default `reprise-under-test` next to this binary).
    #[arg(long, value_name = "PATH")]
    reprise: Option<PathBuf>,
    /// The torture guest component (by default the one this package's build made).
    #[arg(long, value_name = "PATH")]
    component: Option<PathBuf>,
    /// Keep the run's files here (an empty or new directory); by default a temporary directory,
    /// kept only if the run fails.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// Run nothing: check the run kept in DIR again (its database, log and ledger.json).
    #[arg(long, value_name = "DIR", conflicts_with_all = ["rounds", "seed", "instances", "dir"])]
    check: Option<PathBuf>,
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(dir) = &args.check {
        let outcome = torture::check_dir(dir)?;
        print!("{}", outcome.summary());
        return Ok(if outcome.report.violations.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
    }
    let reprise = match args.reprise {
        Some(path) => path,
        None => {
            let me = std::env::current_exe().context("cannot find this binary's path")?;
            me.with_file_name(format!("reprise-under-test{}", std::env::consts::EXE_SUFFIX))
        }
    };
    anyhow::ensure!(
        reprise.is_file(),
        "{} does not exist: build it with `cargo build -p reprise-tests --bins`, or name a reprise binary with --reprise",
        reprise.display()
    );
    let component = args.component.unwrap_or_else(|| PathBuf::from(reprise_tests::guests::TORTURE));
    let seed = args.seed.unwrap_or_else(|| {
        // Any seed will do; it is printed, so the run can be repeated.
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
    });
    let (dir, temporary) = match args.dir {
        Some(dir) => (dir, None),
        None => {
            let temp =
                tempfile::Builder::new().prefix("torture-").tempdir().context("cannot make a temporary directory")?;
            (temp.path().to_path_buf(), Some(temp))
        }
    };
    let mut config = Config::new(reprise, component, dir.clone(), seed, args.rounds);
    if let Some(instances) = args.instances {
        config.instances = instances;
    }
    if let Some(deadline) = args.deadline {
        config.deadline = Duration::from_secs(deadline);
    }
    eprintln!(
        "torture: seed {seed}, {} rounds, {} instances, files in {}",
        config.rounds,
        config.instances,
        dir.display()
    );
    let outcome = match torture::run(&config) {
        Ok(outcome) => outcome,
        Err(error) => {
            if let Some(temp) = temporary {
                let kept = temp.keep();
                eprintln!("the run's files are kept in {}", kept.display());
            }
            return Err(error.context(format!("seed {seed}")));
        }
    };
    print!("{}", outcome.summary());
    if outcome.report.violations.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        if let Some(temp) = temporary {
            let kept = temp.keep();
            eprintln!("the run's files are kept in {}", kept.display());
        }
        Ok(ExitCode::FAILURE)
    }
}
