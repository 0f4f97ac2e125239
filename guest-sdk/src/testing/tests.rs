//! The harness's own tests: each pattern of the seeds, run the way a guest crate's tests run it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{DEFAULT_START_MS, Harness, Recorded, Status, replay};
use crate::{ActivityContext, ActivityOptions, Context, EntityContext, EntityId, Failure, RetryPolicy};

const SECOND: u64 = 1_000;

fn double(_: &ActivityContext, n: u64) -> Result<u64, Failure> {
    Ok(n * 2)
}

fn chain(ctx: &Context, n: u64) -> Result<u64, Failure> {
    ctx.set_custom_status("doubling")?;
    let a = ctx.call_activity::<u64, _>("double", &n).wait()?;
    let b = ctx.call_activity::<u64, _>("double", &a).wait()?;
    ctx.set_custom_status("done")?;
    Ok(b)
}

#[test]
fn a_chain_runs_its_activities_in_order() {
    let run = Harness::new().activity("double", double).start(chain, &3);
    assert_eq!(run.status(), Status::Completed);
    assert_eq!(run.output::<u64>(), Ok(12));
    assert_eq!(run.custom_status::<String>().as_deref(), Some("done"));
    let inputs: Vec<_> = run.activity_calls().iter().map(|c| c.input.clone()).collect();
    assert_eq!(inputs, [serde_json::json!(3), serde_json::json!(6)]);
    assert_eq!(
        run.commands(),
        ["schedule activity 'double' (task 0)", "schedule activity 'double' (task 1)", "complete the orchestration"]
    );
    // The history is one the host writes: its name is the function's, its episodes numbered.
    assert!(matches!(&run.history()[1].event, super::Event::ExecutionStarted { name, .. } if name == "chain"));
    assert!(run.history().iter().enumerate().all(|(i, e)| e.seq == i as u64));
}

fn with_retries(ctx: &Context, _: ()) -> Result<String, Failure> {
    let policy = RetryPolicy::new(4, Duration::from_secs(5)).backoff_coefficient(2.0).never_retry("Fatal");
    ctx.call_activity_with_retry::<String, _>("flaky", &(), &policy).wait()
}

#[test]
fn retries_wait_as_the_host_computes_and_only_when_the_clock_moves() {
    let transient = || Failure::new("Unavailable", "try later");
    let harness =
        Harness::new().activity_results("flaky", [Err(transient()), Err(transient()), Ok("made it".to_string())]);
    let mut run = harness.start(with_retries, &());
    // The first attempt failed; the next waits 5 s of virtual time.
    assert_eq!(run.status(), Status::Running);
    assert_eq!(run.calls_of("flaky").len(), 1);
    run.advance(Duration::from_millis(4_999));
    assert_eq!(run.calls_of("flaky").len(), 1);
    run.advance(Duration::from_millis(1));
    assert_eq!(run.calls_of("flaky").len(), 2);
    run.run_to_completion();
    assert_eq!(run.output::<String>().as_deref(), Ok("made it"));
    let offsets: Vec<u64> = run.calls_of("flaky").iter().map(|c| c.at - DEFAULT_START_MS).collect();
    // 5 s, then 5 s x 2: the backoff of the host's retry policy.
    assert_eq!(offsets, [0, 5 * SECOND, 15 * SECOND]);
    let attempts: Vec<u32> = run.calls_of("flaky").iter().map(|c| c.attempt).collect();
    assert_eq!(attempts, [1, 2, 3]);
}

#[test]
fn a_non_retryable_failure_ends_the_task_at_once_wrapped_as_on_the_host() {
    let harness = Harness::new().activity_results::<String>("flaky", [Err(Failure::new("Fatal", "broken"))]);
    let run = harness.start(with_retries, &());
    let failure = run.output::<String>().unwrap_err();
    assert_eq!(failure.error_type, "ActivityFailed");
    assert_eq!(failure.message, "activity 'flaky' failed: broken");
    assert!(failure.is("Fatal"));
    assert_eq!(run.calls_of("flaky").len(), 1);
}

fn sleepy(ctx: &Context, days: u64) -> Result<u64, Failure> {
    let fired = ctx.timer(Duration::from_secs(days * 86_400)).wait()?;
    Ok(fired)
}

#[test]
fn a_thirty_day_timer_fires_when_the_clock_reaches_it() {
    let mut run = Harness::new().start(sleepy, &30);
    assert_eq!(run.status(), Status::Running);
    assert!(run.waiting_for().contains("schedule a timer (task 0)"), "{}", run.waiting_for());
    run.advance(Duration::from_secs(29 * 86_400));
    assert_eq!(run.status(), Status::Running);
    run.advance(Duration::from_secs(86_400));
    let fire_at = DEFAULT_START_MS + 30 * 86_400 * SECOND;
    assert_eq!(run.output::<u64>(), Ok(fire_at));
    assert_eq!(run.now(), std::time::UNIX_EPOCH + Duration::from_millis(fire_at));
}

fn approval(ctx: &Context, _: ()) -> Result<String, Failure> {
    ctx.set_custom_status("waiting for approval")?;
    let approved = ctx.wait_for_event::<bool>("Approval");
    let timeout = ctx.timer(Duration::from_secs(3_600));
    if ctx.first(&[&approved, &timeout]) == 0 {
        Ok(if approved.wait()? { "approved" } else { "rejected" }.to_string())
    } else {
        Ok("escalated".to_string())
    }
}

#[test]
fn an_event_raised_before_the_timeout_wins_the_race() {
    let mut run = Harness::new().start(approval, &());
    assert_eq!(run.custom_status::<String>().as_deref(), Some("waiting for approval"));
    run.advance(Duration::from_secs(1_800)).raise_event("Approval", &true);
    assert_eq!(run.output::<String>().as_deref(), Ok("approved"));
}

#[test]
fn the_timeout_wins_when_no_event_comes() {
    let mut run = Harness::new().start(approval, &());
    run.run_to_completion();
    assert_eq!(run.output::<String>().as_deref(), Ok("escalated"));
    // An event after the end is dropped, as by the host.
    run.raise_event("Approval", &true);
    assert_eq!(run.output::<String>().as_deref(), Ok("escalated"));
}

fn waits_forever(ctx: &Context, _: ()) -> Result<(), Failure> {
    ctx.wait_for_event::<()>("Never").wait()
}

#[test]
#[should_panic(expected = "waiting on: wait for event 'Never' (task 0)")]
fn running_to_completion_says_what_nothing_will_deliver() {
    Harness::new().start(waits_forever, &()).run_to_completion();
}

fn fan_out(ctx: &Context, n: u64) -> Result<u64, Failure> {
    let tasks: Vec<_> = (0..n).map(|i| ctx.call_activity::<u64, _>("double", &i)).collect();
    Ok(ctx.try_all(tasks)?.iter().sum())
}

#[test]
fn a_fan_out_gets_every_result_in_one_episode() {
    let run = Harness::new().activity("double", double).start(fan_out, &10);
    assert_eq!(run.output::<u64>(), Ok(90));
    let episodes = run.history().iter().filter(|e| matches!(e.event, super::Event::EpisodeStarted { .. })).count();
    assert_eq!(episodes, 2);
}

/// Counts the orders its completions arrive in, wrongly: it assumes task 0 ends first.
fn first_done(ctx: &Context, _: ()) -> Result<String, Failure> {
    let tasks: Vec<_> = ["a", "b", "c"].iter().map(|s| ctx.call_activity::<String, _>("echo", s)).collect();
    let (index, first) = ctx.any(&tasks);
    let _ = first?;
    let rest: Vec<_> = tasks.into_iter().enumerate().filter(|(i, _)| *i != index).map(|(_, t)| t).collect();
    ctx.try_all(rest)?;
    Ok(["a", "b", "c"][index].to_string())
}

#[test]
fn exploration_runs_every_order_and_names_the_failing_ones() {
    let harness = Harness::new().activity("echo", |_: &ActivityContext, s: String| Ok(s));
    let found = harness.explore(first_done, &()).check(|run| {
        assert_eq!(run.output::<String>().as_deref(), Ok("a"), "the first to finish was not 'a'");
    });
    assert!(found.exhaustive);
    // Which of three ends first, then the order of the other two: 3 x 2.
    assert_eq!(found.runs, 6);
    assert_eq!(found.failures.len(), 4);
    let failing = &found.failures[0];
    assert_eq!(failing.order[0], "activity 'echo' (task 1) ends attempt 1");
    assert!(failing.message.contains("the first to finish was not 'a'"), "{}", failing.message);
    let reported = std::panic::catch_unwind(|| found.assert_all_pass()).unwrap_err();
    let text = reported.downcast_ref::<String>().unwrap();
    assert!(text.starts_with("4 of 6 orders (all there are) failed the check"), "{text}");
}

#[test]
fn exploration_races_a_declared_event_against_a_timer() {
    let found = Harness::new().explore(approval, &()).event("Approval", &false).check(|run| {
        let output: String = run.output().unwrap();
        assert_ne!(output, "escalated");
    });
    assert!(found.exhaustive);
    // The event first; or the clock first, and then the event or the timer (both due at once).
    assert_eq!(found.runs, 3);
    assert_eq!(found.failures.len(), 1);
    assert_eq!(found.failures[0].order, ["the clock moves on 3600000 ms", "the timer (task 1) fires"]);
}

#[test]
fn too_many_orders_are_sampled_with_the_seed() {
    let harness = Harness::new().activity("double", double);
    let sample = |seed| {
        harness.explore(fan_out, &6).max_runs(50).seed(seed).check(|run| assert_eq!(run.output::<u64>(), Ok(30)))
    };
    let found = sample(7);
    assert!(!found.exhaustive, "6! = 720 orders exceed 50 runs");
    assert_eq!(found.runs, 100);
    assert!(found.failures.is_empty());
}

#[derive(Default, Serialize, Deserialize)]
struct Account {
    balance: i64,
}

impl Account {
    fn deposit(&mut self, _: &EntityContext, amount: i64) -> Result<i64, Failure> {
        if amount <= 0 {
            return Err(Failure::new("InvalidAmount", format!("cannot deposit {amount}")));
        }
        self.balance += amount;
        Ok(self.balance)
    }

    fn balance(&self, _: &EntityContext, _: ()) -> Result<i64, Failure> {
        Ok(self.balance)
    }
}

fn banking(ctx: &Context, key: String) -> Result<i64, Failure> {
    let account = EntityId::new("Account", key);
    ctx.signal_entity(&account, "deposit", &5)?;
    match ctx.call_entity::<i64, _>(&account, "deposit", &-1).wait() {
        Err(failure) if failure.is("InvalidAmount") => {}
        other => return Err(Failure::new("Unexpected", format!("{other:?}"))),
    }
    let transfer = ctx.lock(std::slice::from_ref(&account))?;
    let balance = ctx.call_entity::<i64, _>(&account, "deposit", &10).wait()?;
    transfer.unlock();
    Ok(balance)
}

mod app {
    use super::{Account, banking};
    crate::export! {
        orchestrators: [banking],
        entities: [Account { deposit, balance }],
    }
}

#[test]
fn entities_keep_their_state_in_memory_and_run_under_locks() {
    let account = EntityId::new("Account", "alice");
    let harness = Harness::new().component(crate::component!(app)).entity_state(&account, &Account { balance: 100 });
    let run = harness.start_named("banking", &"alice");
    assert_eq!(run.output::<i64>(), Ok(115));
    assert_eq!(run.entity_state::<Account>(&account).map(|a| a.balance), Some(115));
    let commands = run.commands();
    assert_eq!(commands[0], "signal operation 'deposit' on entity @Account@alice");
    assert!(commands.contains(&"lock entities [@Account@alice] (task 1)".to_string()), "{commands:?}");
}

fn child(_: &Context, n: u64) -> Result<u64, Failure> {
    if n == 0 { Err(Failure::new("Zero", "nothing to do")) } else { Ok(n + 1) }
}

fn parent(ctx: &Context, inputs: Vec<u64>) -> Result<Vec<String>, Failure> {
    let tasks: Vec<_> = inputs.iter().map(|n| ctx.call_sub_orchestrator::<u64, _>("child", n)).collect();
    Ok(ctx.all(tasks).into_iter().map(|r| r.map_or_else(|f| f.message, |n| n.to_string())).collect())
}

#[test]
fn sub_orchestrations_run_as_child_instances() {
    let run = Harness::new().orchestrator("child", child).start(parent, &vec![1, 0]);
    let outputs = run.output::<Vec<String>>().unwrap();
    assert_eq!(outputs[0], "2");
    assert!(outputs[1].starts_with("sub-orchestration 'child'"), "{}", outputs[1]);
    assert_eq!(run.status_of("test-instance:1:1"), Some(Status::Failed));
}

fn countdown(ctx: &Context, n: u64) -> Result<String, Failure> {
    if n == 0 {
        return Ok("liftoff".into());
    }
    ctx.timer(Duration::from_secs(1)).wait()?;
    ctx.continue_as_new(&(n - 1))
}

#[test]
fn continue_as_new_starts_a_new_execution() {
    let mut run = Harness::new().start(countdown, &3);
    run.run_to_completion();
    assert_eq!(run.output::<String>().as_deref(), Ok("liftoff"));
    assert_eq!(run.now(), std::time::UNIX_EPOCH + Duration::from_millis(DEFAULT_START_MS + 3 * SECOND));
}

#[test]
fn a_terminated_instance_stops_and_says_why() {
    let mut run = Harness::new().start(sleepy, &1);
    run.terminate("no longer needed");
    assert_eq!(run.status(), Status::Terminated);
    assert_eq!(run.failure().map(|f| f.message).as_deref(), Some("no longer needed"));
    run.advance(Duration::from_secs(2 * 86_400));
    assert_eq!(run.status(), Status::Terminated);
}

fn panics(_: &Context, _: ()) -> Result<(), Failure> {
    panic!("an orchestrator bug")
}

#[test]
fn an_orchestrator_that_panics_fails_as_a_trap_does() {
    let run = Harness::new().start(panics, &());
    let failure = run.failure().unwrap();
    assert_eq!(failure.error_type, "GuestTrapped");
    assert_eq!(failure.message, "the orchestrator panicked: an orchestrator bug");
}

#[test]
fn an_activity_nobody_registered_fails_its_task_saying_how_to_register_it() {
    let run = Harness::new().start(chain, &1);
    let failure = run.failure().unwrap();
    assert!(failure.is("ActivityNotFound"), "{failure:?}");
    assert!(failure.to_string().contains("Harness::activity"), "{failure}");
}

#[test]
fn the_activity_context_tells_attempts_and_keys() {
    let seen = Arc::new(AtomicU32::new(0));
    let counted = seen.clone();
    let options = ActivityOptions::new().retry(RetryPolicy::new(2, Duration::from_secs(1)));
    let harness = Harness::new().activity("flaky", move |ctx: &ActivityContext, _: ()| {
        counted.fetch_add(1, Ordering::SeqCst);
        assert_eq!(ctx.idempotency_key(), "test-instance/1/0");
        if ctx.attempt() == 1 { Err(Failure::new("Flaky", "first")) } else { Ok(ctx.attempt()) }
    });
    let function = move |ctx: &Context, _: ()| ctx.call_activity_with_options::<u32, _>("flaky", &(), &options).wait();
    let mut run = harness.start(function, &());
    run.run_to_completion();
    assert_eq!(run.output::<u32>(), Ok(2));
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}

fn chain_changed(ctx: &Context, n: u64) -> Result<u64, Failure> {
    let a = ctx.call_activity::<u64, _>("double", &n).wait()?;
    let b = ctx.call_activity::<u64, _>("triple", &a).wait()?;
    Ok(b)
}

#[test]
fn a_recorded_history_replays_on_the_same_code_and_not_on_changed_code() {
    let run = Harness::new().activity("double", double).start(chain, &3);
    let history = run.history_json();
    let replayed = replay(&history, chain).unwrap();
    assert_eq!(replayed.status, Status::Completed);
    assert_eq!(replayed.commands, run.commands());
    let recorded = Recorded::parse(&history).unwrap();
    assert_eq!(recorded.input::<u64>(), 3);
    run.assert_same_commands(&recorded);
    let again = Harness::new().activity("double", |_: &ActivityContext, n: u64| Ok(n * 3)).start(chain, &3);
    let differs =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| again.assert_same_commands(&recorded))).unwrap_err();
    let text = differs.downcast_ref::<String>().unwrap();
    assert!(text.starts_with("decision 1 differs: the host recorded [schedule activity 'double' (task 1)]"), "{text}");

    let failure = replay(&history, chain_changed).unwrap_err();
    assert_eq!(failure.error_type, "NondeterminismError");
    assert_eq!(
        failure.message,
        "nondeterminism at history position 5: the history records that the orchestrator did [schedule activity \
         'double' (task 1)], but on replay it did [schedule activity 'triple']; the orchestrator's code changed \
         under a running instance, or depends on something the host does not record"
    );
}

#[test]
fn a_text_that_is_no_history_is_refused_with_what_was_expected() {
    let failure = replay("{\"not\": \"a history\"}", chain).unwrap_err();
    assert_eq!(failure.error_type, "InvalidHistory");
    assert!(failure.message.contains("reprise history ID --json"), "{}", failure.message);
}

#[test]
fn code_off_the_harness_says_how_to_test_it() {
    let panic = std::panic::catch_unwind(|| Context::new().instance_id()).unwrap_err();
    let text = panic.downcast_ref::<String>().unwrap();
    assert!(text.contains("reprise_sdk::testing::Harness"), "{text}");
}

fn spins(_: &Context, _: ()) -> Result<(), Failure> {
    #[allow(clippy::empty_loop)]
    loop {}
}

#[test]
#[should_panic(expected = "the orchestrator ran for 200ms without reaching the host")]
fn an_orchestrator_that_never_yields_fails_the_test_instead_of_hanging_it() {
    Harness::new().episode_limit(Duration::from_millis(200)).start(spins, &());
}
