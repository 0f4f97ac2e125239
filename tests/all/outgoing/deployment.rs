//! The deployment file from the command line: `reprise config check` shows what each activity
//! may reach and refuses a bad file naming its line; `run` and `serve` give activities exactly
//! the file's grants; a secret reaches the server it is for and appears nowhere else: not in
//! the database file, the logs, the CLI's outputs or the HTTP API.

use super::server::{SECRET, Server};
use crate::harness::Killed;
use reprise_tests::guests;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

const REPRISE: &str = env!("CARGO_BIN_EXE_reprise-under-test");

/// The environment variable the tests' deployment files read the secret from.
const SECRET_VARIABLE: &str = "REPRISE_TEST_PARTNER_KEY";

/// A deployment file for the http-calls guest whose `fetch` may reach `server`'s `/hello` and
/// `/private`, the latter with the secret as its Authorization header.
fn deployment(dir: &Path, server: &Server) -> std::path::PathBuf {
    let text = format!(
        r#"# The http-calls guest, with one partner API.
[[component]]
path = "{component}"

[component.activities]
timeout = "20s"
memory = "128 MiB"

[component.activity.fetch]
env = {{ PARTNER_KEY = {{ env = "{SECRET_VARIABLE}" }}, MODE = "test" }}

[component.activity.fetch.http]
allow = ["GET {base}/hello", "GET {base}/private"]
headers = [{{ grant = "GET {base}/private", name = "Authorization", value = {{ env = "{SECRET_VARIABLE}", prefix = "Bearer " }} }}]
max-requests = 3
"#,
        component = guests::HTTP_CALLS,
        base = server.base,
    );
    let path = dir.join("reprise.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn reprise(args: &[&str]) -> Output {
    Command::new(REPRISE).args(args).env(SECRET_VARIABLE, SECRET).output().expect("run reprise")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_shows_the_effective_settings_and_refuses_a_bad_file_by_line() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = deployment(dir.path(), &server);
    let checked = reprise(&["config", "check", "--config", file.to_str().unwrap()]);
    let shown = text(&checked);
    assert!(checked.status.success(), "{shown}");
    assert!(shown.contains("valid, 1 component(s)"), "{shown}");
    assert!(shown.contains(&format!("http: GET {}/private", server.base)), "{shown}");
    assert!(
        shown.contains(&format!("header authorization = (secret from the environment variable {SECRET_VARIABLE})")),
        "{shown}"
    );
    assert!(shown.contains("env: MODE = \"test\""), "{shown}");
    assert!(shown.contains("activity fetch:") && shown.contains("at most 3 requests"), "{shown}");
    assert!(shown.contains("memory 128 MiB"), "the component's settings reach the other activities too: {shown}");
    assert!(!shown.contains(SECRET), "config check shows no secret: {shown}");
    let others = shown.split("activity fetch:").next().unwrap();
    assert!(
        others.contains("activities download, upload:") && others.contains("http: denied"),
        "a grant of fetch is not widened to its neighbours: {shown}"
    );

    // A file for the http-calls guest with `rest` after its path, which `config check` refuses.
    let refusal = |name: &str, rest: &str| {
        let file = dir.path().join(name);
        std::fs::write(&file, format!("[[component]]\npath = \"{}\"\n\n{rest}", guests::HTTP_CALLS)).unwrap();
        let refused = reprise(&["config", "check", "--config", file.to_str().unwrap()]);
        assert_eq!(refused.status.code(), Some(2));
        text(&refused)
    };
    let words = refusal("typo.toml", "[component.activities]\ntimeuot = \"3s\"\n");
    assert!(words.contains("line 5") && words.contains("timeuot"), "{words}");

    let words = refusal("unknown.toml", "[component.activity.charge]\ncpu = \"1s\"\n");
    assert!(
        words.contains("unknown.toml:4:")
            && words.contains("exports no activity named 'charge'")
            && words.contains("fetch"),
        "{words}"
    );

    let unset = Command::new(REPRISE)
        .args(["config", "check", "--config", file.to_str().unwrap()])
        .env_remove(SECRET_VARIABLE)
        .output()
        .unwrap();
    assert_eq!(unset.status.code(), Some(2));
    assert!(text(&unset).contains(&format!("{SECRET_VARIABLE}, which is not set")), "{}", text(&unset));
}

/// Reads a child's stderr into a shared buffer, line by line, sending the listening address.
fn collect(stderr: std::process::ChildStderr) -> (Arc<Mutex<String>>, std::sync::mpsc::Receiver<String>) {
    let (found, address) = std::sync::mpsc::channel();
    let collected = Arc::new(Mutex::new(String::new()));
    let into = collected.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(base) = line.strip_prefix("listening on ") {
                let _ = found.send(base.to_string());
            }
            into.lock().unwrap().push_str(&line);
            into.lock().unwrap().push('\n');
        }
    });
    (collected, address)
}

/// A GET over a plain TCP connection (HTTP/1.0: the server closes when done): the whole reply.
fn get(base: &str, path: &str) -> String {
    let address = base.strip_prefix("http://").unwrap();
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {address}\r\n\r\n").unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_reaches_the_server_it_is_for_and_nowhere_else() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let file = deployment(dir.path(), &server);
    let db = dir.path().join("app.db");
    let (file_arg, db_arg) = (file.to_str().unwrap(), db.to_str().unwrap());

    // The guest sets an Authorization header of its own: the host's replaces it.
    let input = format!(
        r#"{{"activity": "fetch", "input": {{"url": "{}", "headers": {{"authorization": "Bearer guess"}}}}}}"#,
        server.url("/private")
    );
    let run =
        reprise(&["run", "call", "--id", "partner", "--input", &input, "--config", file_arg, "--db", db_arg, "-v"]);
    let run_text = text(&run);
    assert!(run.status.success(), "{run_text}");
    assert!(run_text.contains("\"authorized\""), "the host set the header: {run_text}");
    assert_eq!(
        *server.seen.authorizations.lock().unwrap(),
        [format!("Bearer {SECRET}")],
        "the server saw the secret once"
    );

    let mut outputs = vec![run_text];
    for args in [
        vec!["status", "partner", "--db", db_arg],
        vec!["status", "partner", "--json", "--db", db_arg],
        vec!["history", "partner", "--db", db_arg],
        vec!["history", "partner", "--json", "--db", db_arg],
        vec!["list", "--db", db_arg],
        vec!["config", "check", "--config", file_arg],
    ] {
        let output = reprise(&args);
        assert!(output.status.success(), "{args:?}: {}", text(&output));
        outputs.push(text(&output));
    }
    assert!(
        outputs[4].contains("HttpRequestsMade") || outputs[3].contains("HTTP request"),
        "history shows the request"
    );

    let mut serve = Killed(
        Command::new(REPRISE)
            .args(["serve", "--listen", "127.0.0.1:0", "--config", file_arg, "--db", db_arg, "-v"])
            .env(SECRET_VARIABLE, SECRET)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let (serve_log, address) = collect(serve.0.stderr.take().unwrap());
    let base = address.recv_timeout(std::time::Duration::from_secs(60)).expect("serve listens");
    for path in [
        "/runtime/webhooks/durabletask/instances/partner?showHistory=true&showHistoryOutput=true&showInput=true",
        "/runtime/webhooks/durabletask/instances",
    ] {
        let reply = get(&base, path);
        assert!(reply.starts_with("HTTP/1.1 200") || reply.starts_with("HTTP/1.0 200"), "{reply}");
        if path.contains("showHistory") {
            assert!(reply.contains("\"HttpRequestsMade\"") && reply.contains("\"bytesReceived\""), "{reply}");
        }
        outputs.push(reply);
    }
    drop(serve);
    outputs.push(serve_log.lock().unwrap().clone());

    for (at, output) in outputs.iter().enumerate() {
        assert!(!output.contains(SECRET), "output {at} shows the secret: {output}");
    }
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            let found = bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes());
            assert!(!found, "{} holds the secret", path.display());
        }
    }
}
