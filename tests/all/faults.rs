//! Faults beyond a killed process, on the real `reprise` binary and real files: writes that
//! fail at each of the store's fault points (set through `FAILPOINTS`), a disk that fills up
//! under a running host, a database file the user may not write, and damaged files.

use crate::harness::Killed;
use reprise_core::{Event, RuntimeStatus};
use reprise_store::{HistoryStore, SqliteStore};
use reprise_tests::guests;
use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const REPRISE: &str = env!("CARGO_BIN_EXE_reprise-under-test");

/// Polls `check` every 20 ms, for at most a minute.
fn until<T>(what: &str, check: impl Fn() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A database the test reads: a file of its own, or one inside another process's mount
/// namespace, reached through `/proc/PID/root`.
enum Db {
    File(PathBuf),
    /// The directory that holds `reprise.db`, as this process sees it. SQLite resolves the
    /// symbolic links of a path, `/proc/PID/root` among them, so it cannot open the file there:
    /// each read opens a copy (made while the host is between writes, or else torn where SQLite's
    /// checksums say, and read again at the next poll).
    Inside(PathBuf),
}

impl Db {
    fn open(&self) -> Option<(Option<tempfile::TempDir>, SqliteStore)> {
        match self {
            Db::File(path) => Some((None, SqliteStore::open(path).ok()?)),
            Db::Inside(dir) => {
                let copy = tempfile::tempdir().ok()?;
                std::fs::copy(dir.join("reprise.db"), copy.path().join("reprise.db")).ok()?;
                let _ = std::fs::copy(dir.join("reprise.db-wal"), copy.path().join("reprise.db-wal"));
                let store = SqliteStore::open(&copy.path().join("reprise.db")).ok()?;
                Some((Some(copy), store))
            }
        }
    }
}

/// The instance's row once it has finished.
fn finished(db: &Db, id: &str) -> reprise_store::InstanceRecord {
    until(&format!("{id} to finish"), || db.open()?.1.instance(id).ok().flatten().filter(|r| r.status.is_terminal()))
}

/// Asserts that `id` completed the `chain` of `steps` with each step scheduled and completed
/// exactly once, in a history that starts and ends as a history must.
fn assert_chain_completed_once_per_step(db: &Db, id: &str, steps: u64) {
    let record = finished(db, id);
    assert_eq!(record.status, RuntimeStatus::Completed, "{id}: {:?}", record.failure);
    let output: serde_json::Value = serde_json::from_str(record.output.as_deref().unwrap()).unwrap();
    assert_eq!(output, serde_json::json!({"steps": steps, "last": steps}));
    let history = db.open().unwrap().1.history(id, 1).unwrap();
    assert!(matches!(history[0].event, Event::EpisodeStarted { .. }), "{:?}", history[0]);
    assert!(matches!(history[1].event, Event::ExecutionStarted { .. }), "{:?}", history[1]);
    assert!(matches!(history.last().unwrap().event, Event::ExecutionCompleted { .. }));
    let (mut scheduled, mut completed) = (BTreeMap::new(), BTreeMap::new());
    for event in &history {
        match &event.event {
            Event::ActivityScheduled { task_id, .. } => *scheduled.entry(*task_id).or_insert(0) += 1,
            Event::ActivityCompleted { task_id, .. } => *completed.entry(*task_id).or_insert(0) += 1,
            Event::ActivityFailed { .. } | Event::ExecutionFailed { .. } => panic!("{id}: {event:?}"),
            _ => {}
        }
    }
    let expected: BTreeMap<u64, i32> = (0..steps).map(|task| (task, 1)).collect();
    assert_eq!(scheduled, expected, "{id}: each step scheduled exactly once");
    assert_eq!(completed, expected, "{id}: each step completed exactly once");
}

fn cli(args: &[&str], db: &Path) -> Output {
    Command::new(REPRISE).args(args).arg("--db").arg(db).output().expect("run reprise")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A chain of `steps` run to its end by `reprise run` in a new database at `db`.
fn run_chain(db: &Path, id: &str, steps: u64) {
    let input = format!(r#"{{"steps": {steps}, "delay_ms": 0}}"#);
    let ran = cli(&["run", "chain", "--id", id, "--input", &input, "--component", guests::CHAIN], db);
    assert_eq!(ran.status.code(), Some(0), "{}", stderr(&ran));
}

#[test]
fn an_orchestration_runs_through_a_fault_at_every_point_and_completes_once_per_step() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("faults.db");
    let log_path = dir.path().join("serve.log");
    // One fault at each point, each on a write of the kinds that make an orchestration
    // progress (an episode's commit, an activity's result with the next episode's begin), each
    // a few writes in, so that the orchestration is under way when it comes.
    let points = [
        "store.after_begin.commit_episode=1*off->1*return->off",
        "store.before_commit.commit_episode=3*off->1*return->off",
        "store.after_commit.commit_episode=5*off->1*return->off",
        "store.before_commit.record_activity=2*off->1*return(full)->off",
        "store.after_commit.record_activity=4*off->1*return->off",
        "store.after_begin.record_activity=6*off->1*return(busy)->off",
    ];
    let log = std::fs::File::create(&log_path).unwrap();
    let _host = Killed(
        Command::new(REPRISE)
            .args(["serve", "--lease", "1s", "--component", guests::CHAIN, "--db"])
            .arg(&db)
            .env("FAILPOINTS", points.join(";"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start reprise serve"),
    );
    until("the component to be loaded", || (!SqliteStore::open(&db).ok()?.components().ok()?.is_empty()).then_some(()));
    let started = cli(&["start", "chain", "--id", "faulty", "--input", r#"{"steps": 12, "delay_ms": 0}"#], &db);
    assert!(started.status.success(), "{}", stderr(&started));

    assert_chain_completed_once_per_step(&Db::File(db), "faulty", 12);
    let log = std::fs::read_to_string(&log_path).unwrap();
    assert!(log.contains("FAILPOINTS: 6 fault point(s) configured"), "{log}");
    for point in points {
        let name = point.split('=').next().unwrap();
        assert!(log.contains(&format!("fault injected at failpoint {name}")), "{name} never fired:\n{log}");
    }
    assert!(!log.contains("panicked"), "{log}");
}

#[test]
fn a_bad_failpoints_setting_stops_the_command_before_it_runs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("bad.db");
    let refused = Command::new(REPRISE)
        .args(["list", "--db"])
        .arg(&db)
        .env("FAILPOINTS", "store.before_comit=return")
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(stderr(&refused).contains("unknown point 'store.before_comit'"), "{}", stderr(&refused));
    assert!(!db.exists(), "nothing ran");
}

/// One HTTP/1.1 request to `base`; returns the status, the headers (lower-cased names) and the
/// body.
fn http(base: &str, method: &str, path: &str, body: &str) -> (u16, Vec<(String, String)>, String) {
    let address = base.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read the response");
    let (head, body) = response.split_once("\r\n\r\n").expect("a response head");
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    (status, headers, body.to_string())
}

/// The base URL that `reprise serve --listen` prints on stderr once it listens; the rest of
/// stderr is copied to `log` by a thread.
fn listening_address_then_log(stderr: std::process::ChildStderr, log: &Path) -> String {
    use std::io::{BufRead as _, BufReader};
    let mut lines = BufReader::new(stderr).lines();
    let base = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| line.strip_prefix("listening on ").map(str::to_string))
        .expect("reprise serve printed its address");
    let mut log = std::fs::File::create(log).unwrap();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = writeln!(log, "{line}");
        }
    });
    base
}

/// Fills the file system holding `dir` with a file until a write fails for want of space.
fn fill(dir: &Path) -> PathBuf {
    let filler = dir.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let chunk = vec![0u8; 16 * 1024];
    loop {
        match file.write_all(&chunk).and_then(|()| file.sync_all()) {
            Ok(()) => {}
            Err(error) if error.raw_os_error() == Some(28) => break, // ENOSPC
            Err(error) => panic!("filling {}: {error}", filler.display()),
        }
    }
    filler
}

/// The disk fills up under a running host. The database lives on a 4 MiB tmpfs mounted in a
/// mount namespace of the host's own (`unshare --mount --map-root-user`: root inside a user
/// namespace may mount a tmpfs, whoever runs the test, and the mount goes away with the
/// process); the test reaches its files through `/proc/PID/root`.
#[test]
fn a_host_whose_disk_fills_up_refuses_new_work_clearly_loses_nothing_and_goes_on_when_space_returns() {
    let outside = tempfile::tempdir().unwrap();
    let mount_point = outside.path().join("small-disk");
    std::fs::create_dir(&mount_point).unwrap();
    let db_inside = mount_point.join("reprise.db");
    let mut child = Command::new("unshare")
        .args(["--mount", "--map-root-user", "--propagation", "private", "sh", "-c"])
        .arg(r#"mount -t tmpfs -o size=4m tmpfs "$0" && exec "$@""#)
        .arg(&mount_point)
        .args([REPRISE, "serve", "--listen", "127.0.0.1:0", "--lease", "1s", "--no-compile-cache"])
        .args(["--component", guests::CHAIN, "--db"])
        .arg(&db_inside)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start reprise serve in a mount namespace of its own (unshare)");
    let stderr_pipe = child.stderr.take().unwrap();
    let pid = child.id();
    let _host = Killed(child);
    let log = outside.path().join("serve.log");
    let base = listening_address_then_log(stderr_pipe, &log);
    let disk = PathBuf::from(format!("/proc/{pid}/root")).join(mount_point.strip_prefix("/").unwrap());
    let db = Db::Inside(disk.clone());

    // Acknowledged work under way when the disk fills: a chain whose steps take a while.
    let start = |id: &str, steps: u64, delay: u64| {
        let body = format!(r#"{{"steps": {steps}, "delay_ms": {delay}}}"#);
        http(&base, "POST", &format!("/api/orchestrators/chain/{id}"), &body)
    };
    let (status, _, body) = start("before", 8, 300);
    assert_eq!(status, 202, "{body}");
    until("a step of 'before' to complete", || {
        let history = db.open()?.1.history("before", 1).ok()?;
        history.iter().any(|e| matches!(e.event, Event::ActivityCompleted { .. })).then_some(())
    });
    let filler = fill(&disk);

    // New work is refused with a clear error: over HTTP a 503 that says when to try again...
    let (status, headers, body) = start("refused", 1, 0);
    assert_eq!(status, 503, "{body}");
    assert!(headers.iter().any(|(name, _)| name == "retry-after"), "{headers:?}");
    let error: serde_json::Value = serde_json::from_str(&body).unwrap();
    let message = error["error"].as_str().unwrap();
    assert!(message.contains("the database is full") && message.contains("free space"), "{message}");
    // ...and from the command line a message and the exit code that means "try again later".
    // (run inside the host's mount namespace, where the file is: `nsenter`)
    let refused = Command::new("nsenter")
        .args(["--target", &pid.to_string(), "--mount", "--", REPRISE, "start", "chain", "--id", "refused-cli"])
        .args(["--input", r#"{"steps": 1}"#, "--db"])
        .arg(&db_inside)
        .output()
        .expect("run reprise start in the host's mount namespace (nsenter)");
    assert_eq!(refused.status.code(), Some(75), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("the database is full"), "{}", stderr(&refused));
    assert!(stderr(&refused).contains("try again later"), "{}", stderr(&refused));
    let (_copy, store) = db.open().unwrap();
    assert!(store.instance("refused").unwrap().is_none() && store.instance("refused-cli").unwrap().is_none());
    drop(store);

    // The host does not spin: it pauses new episodes and activity claims, longer at each failed
    // try. Space returns once a pause has grown to 2 s (the disk has then been full for about
    // 4 s, past the few quick tries an activity's result gets when the store fails otherwise).
    until("the host to pause for 2 s", || {
        std::fs::read_to_string(&log).ok()?.contains("activity claims pause for 2s").then_some(())
    });
    // Space returns: the host goes on by itself, without a restart.
    std::fs::remove_file(&filler).unwrap();
    assert_chain_completed_once_per_step(&db, "before", 8);
    let (status, _, body) = start("after", 2, 0);
    assert_eq!(status, 202, "{body}");
    assert_chain_completed_once_per_step(&db, "after", 2);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("the database is full"), "{log}");
    assert!(log.contains("the store takes writes again"), "{log}");
    // The result of the step that was running when the disk filled waited for space: none was
    // given up (its activity would have run again).
    assert!(!log.contains("cannot record activity result:"), "{log}");
    assert!(!log.contains("panicked"), "{log}");
}

/// Runs `reprise ARGS --db DB` as the user `nobody` (root may write any file, so a test run
/// as root could not see a read-only file otherwise).
fn as_nobody(args: &[&str], db: &Path) -> Output {
    Command::new("setpriv")
        .args(["--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", REPRISE])
        .args(args)
        .arg("--db")
        .arg(db)
        .output()
        .expect("run reprise as nobody (setpriv)")
}

/// A database file the user may not write: `nobody` runs the commands, on a file that root
/// owns with mode 0444, in a directory anyone may write (so that SQLite can put its `-shm`
/// index beside it, as it can in a user's own directory).
#[test]
fn a_read_only_database_is_refused_at_open_by_the_commands_that_write_and_read_by_the_others() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("read-only.db");
    run_chain(&db, "done", 2);
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).unwrap();
    let before = std::fs::read(&db).unwrap();

    let input = r#"{"steps": 1, "delay_ms": 0}"#;
    for args in [
        vec!["serve", "--component", guests::CHAIN, "--no-compile-cache"],
        vec!["run", "chain", "--input", input, "--component", guests::CHAIN, "--no-compile-cache"],
        vec!["start", "chain", "--input", input],
    ] {
        let refused = as_nobody(&args, &db);
        let text = stderr(&refused);
        assert_eq!(refused.status.code(), Some(2), "{args:?}: {text}");
        assert!(text.contains("cannot open the database"), "{args:?}: {text}");
        assert!(text.contains("cannot be written by this process"), "{args:?}: {text}");
        assert!(!text.contains("panicked"), "{args:?}: {text}");
    }

    let status = as_nobody(&["status", "done", "--json"], &db);
    assert!(status.status.success(), "{}", stderr(&status));
    let shown: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(shown["status"], "Completed");
    let listed = as_nobody(&["list"], &db);
    assert!(listed.status.success() && String::from_utf8_lossy(&listed.stdout).contains("done"));
    let history = as_nobody(&["history", "done"], &db);
    assert!(history.status.success(), "{}", stderr(&history));
    assert!(String::from_utf8_lossy(&history.stdout).contains("completed"), "{:?}", history);
    assert!(std::fs::read(&db).unwrap() == before, "the file is unchanged");
}

/// A damaged file, or one from a newer reprise: every command refuses it with a clear error
/// (exit code 2), none panics, and the file's bytes are the same afterwards.
#[test]
fn a_damaged_or_future_database_is_refused_by_every_command_with_the_file_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.db");
    run_chain(&good, "done", 30);
    let bytes = std::fs::read(&good).unwrap();
    let variant = |name: &str, content: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        path
    };
    let truncated = variant("truncated.db", &bytes[..bytes.len() / 2]);
    let mut header = bytes.clone();
    header[..64].fill(b'#');
    let garbage_header = variant("garbage-header.db", &header);
    let future = variant("future.db", &bytes);
    rusqlite::Connection::open(&future).unwrap().pragma_update(None, "user_version", 9_999).unwrap();
    let history_root: usize = rusqlite::Connection::open(&good)
        .unwrap()
        .query_row("SELECT rootpage FROM sqlite_schema WHERE name = 'history'", [], |r| r.get::<_, i64>(0))
        .unwrap() as usize;
    let mut paged = bytes.clone();
    paged[(history_root - 1) * 4096..history_root * 4096].fill(0xab);
    let garbage_page = variant("garbage-page.db", &paged);

    let serve = ["serve", "--component", guests::CHAIN, "--no-compile-cache"];
    let cases: [(&Path, &str, Vec<&[&str]>); 4] = [
        (&truncated, "the database file is damaged", vec![&serve, &["status", "done"], &["list"]]),
        (&garbage_header, "not a database", vec![&serve, &["status", "done"], &["entity", "list"]]),
        (&future, "newer than this reprise supports", vec![&serve, &["status", "done"], &["list"]]),
        // Only `serve` (and `run`) read every page first; `history` meets the page and says so.
        (&garbage_page, "the database file is damaged", vec![&serve, &["history", "done"]]),
    ];
    for (path, words, commands) in cases {
        let before = std::fs::read(path).unwrap();
        for args in commands {
            let refused = cli(args, path);
            let text = stderr(&refused);
            assert_eq!(refused.status.code(), Some(2), "{} {args:?}: {text}", path.display());
            assert!(text.contains(words), "{} {args:?}: {text}", path.display());
            assert!(!text.contains("panicked"), "{} {args:?}: {text}", path.display());
            assert!(std::fs::read(path).unwrap() == before, "{} {args:?} changed the file", path.display());
        }
    }
    // The page is in the history table: the instance's row still reads.
    let status = cli(&["status", "done", "--json"], &garbage_page);
    assert!(status.status.success(), "{}", stderr(&status));
}
