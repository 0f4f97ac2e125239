//! The rounds of a run: start a host, send the round's requests while a kill timer runs, SIGKILL
//! the host, send the requests meant for a host that is down, and again; then one last host
//! that runs until every instance has finished and nothing is left queued. Every request's
//! answer goes into the [`Ledger`]. The driver never judges the outcome: the checker does.

use super::ledger::{Ledger, RaiseRecord, SignalRecord, StartRecord};
use super::open_read_only;
use super::process::{Answer, HostFiles, Http, Serve, cli, cli_answer};
use super::workload::{COUNTER, HostSettings, Phase, Plan, PlannedRaise, PlannedSignal, PlannedStart, Via};
use anyhow::{Context as _, bail};
use rusqlite::OptionalExtension as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long the last host may take to make the database quiescent (nothing queued, no lock
/// held) once every instance has finished; what is still there then is reported as left over.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// A request of a round.
#[derive(Debug, Clone)]
enum Request {
    Start(PlannedStart),
    Raise(PlannedRaise),
    Signal(PlannedSignal),
}

/// The driver's state between rounds.
struct Driver<'a> {
    files: &'a HostFiles,
    dir: &'a Path,
    plan: &'a Plan,
    deadline: Instant,
    ledger: Ledger,
    /// Planned starts not yet known to exist, in plan order.
    unstarted: Vec<PlannedStart>,
    /// Planned raises not yet acknowledged, with the unacknowledged tries so far.
    unraised: Vec<(PlannedRaise, u32)>,
}

/// Runs the plan's rounds and the final host; returns the ledger once everything has finished
/// (or fails, naming what did not, at `deadline`). The ledger is also written to
/// `dir/ledger.json`, whatever happens.
pub fn drive(files: &HostFiles, dir: &Path, plan: &Plan, deadline: Instant) -> anyhow::Result<Ledger> {
    let mut driver = Driver {
        files,
        dir,
        plan,
        deadline,
        ledger: Ledger { seed: plan.seed, ..Ledger::default() },
        unstarted: plan.starts.clone(),
        unraised: plan.raises.iter().cloned().map(|raise| (raise, 0)).collect(),
    };
    let mut rounds = || -> anyhow::Result<()> {
        // A line about every twentieth of the run: a long run shows it is moving.
        let every = (plan.rounds.len() / 20).max(1);
        for (round, planned) in plan.rounds.iter().enumerate() {
            driver.round(round as u32, planned.host, planned.kill_after)?;
            if (round + 1) % every == 0 {
                let started = plan.starts.len() - driver.unstarted.len();
                eprintln!(
                    "torture: {} of {} rounds, {started} of {} instances started",
                    round + 1,
                    plan.rounds.len(),
                    plan.starts.len()
                );
            }
        }
        driver.finish()
    };
    let result = rounds();
    // Written however the run ended, for `torture --check` and for whoever reads the files.
    let path = dir.join("ledger.json");
    std::fs::write(&path, serde_json::to_string_pretty(&driver.ledger)?)
        .with_context(|| format!("cannot write {}", path.display()))?;
    result.map(|()| driver.ledger)
}

impl Driver<'_> {
    fn round(&mut self, round: u32, host: HostSettings, kill_after: Duration) -> anyhow::Result<()> {
        self.check_deadline("the rounds")?;
        let mut serve = Serve::start(self.files, host, &self.dir.join(format!("serve-{round:04}.log")))
            .with_context(|| format!("round {round}: starting the host"))?;
        self.reconcile_starts()?;
        self.give_up_raises(&unfinished(&self.files.db)?);
        let up = self.requests(round, Phase::Up);
        // The requests go out while the kill timer runs: a kill may land in the middle of them.
        let (files, base) = (self.files.clone(), serve.base.clone());
        let sender = std::thread::spawn(move || send_all(&files, Some(&base), up));
        std::thread::sleep(kill_after);
        if let Some(status) = serve.exited() {
            self.ledger.host_exits.push((round, status.to_string()));
        }
        self.ledger.kill_times.push(wall_clock_ms());
        serve.kill()?;
        self.ledger.kills += 1;
        let answers = sender.join().map_err(|_| anyhow::anyhow!("the request thread panicked"))??;
        self.record(answers);
        let down = self.requests(round, Phase::Down);
        let answers = send_all(self.files, None, down)?;
        self.record(answers);
        Ok(())
    }

    /// The last host: runs until every instance has finished and every request was
    /// acknowledged, then until nothing is left queued (or [`SETTLE_TIMEOUT`]).
    fn finish(&mut self) -> anyhow::Result<()> {
        let round = self.plan.rounds.len() as u32;
        let mut serve = Serve::start(self.files, HostSettings::DEFAULT, &self.dir.join("serve-final.log"))
            .context("starting the final host")?;
        loop {
            self.reconcile_starts()?;
            let pending: Vec<Request> = self
                .unstarted
                .iter()
                .cloned()
                .map(Request::Start)
                .chain(
                    self.unraised.iter().filter(|(r, _)| self.started(&r.id)).map(|(r, _)| Request::Raise(r.clone())),
                )
                .collect();
            let answers = send_all(self.files, Some(&serve.base), pending)?;
            self.record(answers);
            let unfinished = unfinished(&self.files.db)?;
            self.give_up_raises(&unfinished);
            if self.unstarted.is_empty() && self.unraised.is_empty() && unfinished.is_empty() {
                break;
            }
            if let Some(status) = serve.exited() {
                self.ledger.host_exits.push((round, status.to_string()));
                bail!(
                    "the final host exited on its own ({status}); see {}",
                    self.dir.join("serve-final.log").display()
                );
            }
            if Instant::now() >= self.deadline {
                let shown: Vec<String> = unfinished.iter().take(20).map(|(id, s)| format!("{id} ({s})")).collect();
                bail!(
                    "deadline passed: {} instance(s) not finished [{}{}], {} start(s) and {} event(s) never acknowledged; \
                     the database and host logs are in {}",
                    unfinished.len(),
                    shown.join(", "),
                    if unfinished.len() > shown.len() { ", ..." } else { "" },
                    self.unstarted.len(),
                    self.unraised.len(),
                    self.dir.display()
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        let settle_until = Instant::now() + SETTLE_TIMEOUT;
        while !quiescent(&self.files.db)? && Instant::now() < settle_until {
            std::thread::sleep(Duration::from_millis(100));
        }
        if let Some(status) = serve.exited() {
            self.ledger.host_exits.push((round, status.to_string()));
        }
        serve.kill()
    }

    fn check_deadline(&self, doing: &str) -> anyhow::Result<()> {
        if Instant::now() >= self.deadline {
            bail!("deadline passed during {doing}; the database and host logs are in {}", self.dir.display());
        }
        Ok(())
    }

    fn started(&self, id: &str) -> bool {
        self.ledger.starts.contains_key(id)
    }

    /// The requests of `round` in `phase`: planned starts due (and earlier ones not
    /// acknowledged), events due for instances that exist, and the round's signals.
    fn requests(&self, round: u32, phase: Phase) -> Vec<Request> {
        let due = |r: u32, p: Phase| r <= round && (p == phase || r < round);
        let mut requests: Vec<Request> =
            self.unstarted.iter().filter(|s| due(s.round, s.phase)).cloned().map(Request::Start).collect();
        requests.extend(
            self.unraised
                .iter()
                .filter(|(r, _)| due(r.round, r.phase) && self.started(&r.id))
                .map(|(r, _)| Request::Raise(r.clone())),
        );
        requests.extend(
            self.plan.signals.iter().filter(|s| s.round == round && s.phase == phase).cloned().map(Request::Signal),
        );
        if phase == Phase::Down {
            // No host: everything goes through the database.
            for request in &mut requests {
                match request {
                    Request::Start(s) => s.via = Via::Cli,
                    Request::Raise(r) => r.via = Via::Cli,
                    Request::Signal(s) => s.via = Via::Cli,
                }
            }
        }
        requests
    }

    /// Moves the planned starts whose instance exists (an unacknowledged request that went
    /// through) to the ledger, as not acknowledged.
    fn reconcile_starts(&mut self) -> anyhow::Result<()> {
        if self.unstarted.is_empty() {
            return Ok(());
        }
        let conn = open_read_only(&self.files.db)?;
        let mut still = Vec::new();
        for start in std::mem::take(&mut self.unstarted) {
            let exists = conn
                .query_row("SELECT 1 FROM instances WHERE instance_id = ?1", [&start.id], |_| Ok(()))
                .optional()?
                .is_some();
            if exists {
                let record = StartRecord { name: start.name.clone(), input: start.input.clone(), acked: false };
                self.ledger.starts.insert(start.id.clone(), record);
            } else {
                still.push(start);
            }
        }
        self.unstarted = still;
        Ok(())
    }

    /// Stops raising events on instances that have finished: no request was acknowledged, but
    /// one went through (the checker holds the instance to its output, which needs the event),
    /// and a finished instance refuses events.
    fn give_up_raises(&mut self, unfinished: &[(String, String)]) {
        let unfinished: std::collections::BTreeSet<&str> = unfinished.iter().map(|(id, _)| id.as_str()).collect();
        let starts = &self.ledger.starts;
        let (done, still): (Vec<_>, Vec<_>) = std::mem::take(&mut self.unraised)
            .into_iter()
            .partition(|(r, _)| starts.contains_key(&r.id) && !unfinished.contains(r.id.as_str()));
        self.unraised = still;
        for (raise, unacked_tries) in done {
            let record =
                RaiseRecord { id: raise.id, event: raise.event, data: raise.data, acked: false, unacked_tries };
            self.ledger.raises.push(record);
        }
    }

    fn record(&mut self, answers: Vec<(Request, Answer)>) {
        for (request, answer) in answers {
            let acked = answer == Answer::Acked;
            match request {
                Request::Start(start) => {
                    // `Exists` is settled by the next reconciliation, from the database.
                    if acked {
                        self.unstarted.retain(|s| s.id != start.id);
                        let record = StartRecord { name: start.name, input: start.input, acked: true };
                        self.ledger.starts.insert(start.id, record);
                    }
                }
                Request::Raise(raise) => {
                    let Some(index) =
                        self.unraised.iter().position(|(r, _)| r.id == raise.id && r.event == raise.event)
                    else {
                        continue;
                    };
                    if acked {
                        let (raise, unacked_tries) = self.unraised.remove(index);
                        self.ledger.raises.push(RaiseRecord {
                            id: raise.id,
                            event: raise.event,
                            data: raise.data,
                            acked: true,
                            unacked_tries,
                        });
                    } else {
                        self.unraised[index].1 += 1;
                    }
                }
                Request::Signal(signal) => self.ledger.signals.push(SignalRecord {
                    key: signal.key,
                    op: signal.op,
                    amount: signal.amount,
                    acked,
                }),
            }
        }
    }
}

/// Sends `requests` in order (to the host at `base` for those that go by HTTP; with no host,
/// those fail unacknowledged) and returns each with its answer.
fn send_all(files: &HostFiles, base: Option<&str>, requests: Vec<Request>) -> anyhow::Result<Vec<(Request, Answer)>> {
    let http = Http::new()?;
    let mut answers = Vec::with_capacity(requests.len());
    for request in requests {
        let answer = send(files, base, &http, &request)?;
        answers.push((request, answer));
    }
    Ok(answers)
}

fn send(files: &HostFiles, base: Option<&str>, http: &Http, request: &Request) -> anyhow::Result<Answer> {
    let over_http = |via: Via, path: String, body: String| match (via, base) {
        (Via::Http, Some(base)) => Some(http.post(&format!("{base}{path}"), body)),
        (Via::Http, None) => Some(Answer::NotAcked("no host to send it to".into())),
        (Via::Cli, _) => None,
    };
    Ok(match request {
        Request::Start(s) => {
            let input = s.input.to_string();
            match over_http(s.via, format!("/api/orchestrators/{}/{}", s.name, s.id), input.clone()) {
                Some(answer) => answer,
                None => cli_answer(&cli(files, &["start", &s.name, "--id", &s.id, "--input", &input])?, Some(&s.id)),
            }
        }
        Request::Raise(r) => {
            let data = r.data.to_string();
            let path = format!("/runtime/webhooks/durabletask/instances/{}/raiseEvent/{}", r.id, r.event);
            match over_http(r.via, path, data.clone()) {
                Some(answer) => answer,
                None => cli_answer(&cli(files, &["raise", &r.id, &r.event, "--data", &data])?, None),
            }
        }
        Request::Signal(s) => {
            let input = serde_json::json!({"op": s.op, "amount": s.amount}).to_string();
            let path = format!("/runtime/webhooks/durabletask/entities/{COUNTER}/{}?op=add", s.key);
            match over_http(s.via, path, input.clone()) {
                Some(answer) => answer,
                None => {
                    cli_answer(&cli(files, &["entity", "signal", COUNTER, &s.key, "add", "--input", &input])?, None)
                }
            }
        }
    })
}

/// The wall clock, as the host reads it, in milliseconds since the Unix epoch.
fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The orchestration instances that have not finished, with their status.
fn unfinished(db: &Path) -> anyhow::Result<Vec<(String, String)>> {
    let conn = open_read_only(db)?;
    let mut stmt = conn.prepare(
        "SELECT instance_id, status FROM instances \
         WHERE substr(instance_id, 1, 1) <> '@' AND status NOT IN ('Completed', 'Failed', 'Terminated') \
         ORDER BY instance_id",
    )?;
    let rows = stmt.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// True once nothing waits in any inbox or activity queue and no entity is locked.
fn quiescent(db: &Path) -> anyhow::Result<bool> {
    let conn = open_read_only(db)?;
    let left: i64 = conn.query_row(
        "SELECT (SELECT count(*) FROM inbox) + (SELECT count(*) FROM activity_tasks) \
             + (SELECT count(*) FROM entities WHERE locked_by IS NOT NULL)",
        [],
        |row| row.get(0),
    )?;
    Ok(left == 0)
}
