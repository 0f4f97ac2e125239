//! The workers and the routes between the owners: the only module that knows all of them.
//!
//! The orchestration worker takes slots from the scheduler for the instances this process woke
//! and for those a poll of the store finds ready, and runs each episode on a task of its own
//! through the episode runner. The activity worker claims tasks through the dispatcher. What an
//! episode leaves to do once committed (run the tasks it claimed, have the dispatcher poll, wake
//! the instances it wrote to, tell the waiters) is done here, and so is the chain from an
//! activity's result to its instance's next episode: the task that ran the attempt records the
//! result and, holding a slot, begins that episode in the same write and runs it itself.
//!
//! How workers hear of work: directly from this process when it knows which instance or task
//! the work is for, and by polling the store for the rest (work written by other processes, a
//! manual clock moved by a test, what is due later: timers, retries). A worker sleeps until
//! the next nudge, the next due time it knows of (on the clock) or its next periodic poll (real
//! time: it looks for other processes' work), so a sequential orchestration's step costs no poll
//! at all, and an idle host costs one poll per interval. Flow limits add two: the end of an
//! attempt of an activity with a concurrency limit has the activity worker poll (a throttled
//! task may go), and a claim that a rate limit held back has it poll when the next token is due.
//!
//! The schedule worker has the schedule firer fire the due slots of schedules, and wakes the
//! instances it started (or sent a termination); it sleeps until the next slot (on the clock), a
//! nudge (a schedule saved or resumed here) or its periodic poll (other processes' schedules, and
//! the end of a run that a buffered slot waits for).
//!
//! It decides nothing about an episode's contents and holds no state of its own but the
//! [`Engine`] of owners.

use crate::activities::{ActivityDispatcher, Recorded};
use crate::clock::Clock;
use crate::config::ExecutorConfig;
use crate::episodes::{EpisodeRunner, Outcome};
use crate::in_flight::InFlight;
use crate::scheduler::{EpisodeEnd, EpisodeSlot, Scheduler};
use crate::schedules::ScheduleFirer;
use crate::slots::Permit;
use crate::store_access::StoreAccess;
use crate::trigger::Trigger;
use crate::watchers::Watchers;
use reprise_core::Timestamp;
use reprise_core::plan::AfterCommit;
use reprise_store::{ActivityResult, ActivityTask, EpisodeStart};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::watch;

/// The owners a host is made of.
pub(crate) struct Engine {
    pub(crate) config: ExecutorConfig,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) store: StoreAccess,
    pub(crate) scheduler: Arc<Scheduler>,
    pub(crate) episodes: EpisodeRunner,
    pub(crate) activities: ActivityDispatcher,
    pub(crate) schedules: ScheduleFirer,
    pub(crate) watchers: Arc<Watchers>,
    /// The episodes and attempts handed to tasks of their own and not finished.
    pub(crate) in_flight: InFlight,
    pub(crate) metrics: Arc<crate::metrics::Metrics>,
}

/// Runs until `shutdown` turns true.
pub(crate) async fn orchestration_worker(engine: Arc<Engine>, mut shutdown: watch::Receiver<bool>) {
    let scheduler = &engine.scheduler;
    let mut next_poll = Instant::now();
    // Whether the last poll found as many ready instances as it could start: more may be
    // waiting, so a freed slot polls again instead of waiting for the interval.
    let mut backlog = false;
    loop {
        engine.episodes.cache.evict_idle();
        // While the store takes no writes, woken instances stay queued, and the poll waits too.
        match sit_out_pause(&engine, &mut shutdown).await {
            Some(true) => continue,
            Some(false) => break,
            None => {}
        }
        for slot in scheduler.take_woken(engine.clock.now()) {
            spawn_counted(&engine, run_episode(engine.clone(), slot, None));
        }

        let free = scheduler.free();
        let slot_for_backlog = backlog && free > 0 && !scheduler.has_queued();
        if scheduler.trigger.take_poll(engine.clock.now()) || Instant::now() >= next_poll || slot_for_backlog {
            next_poll = Instant::now() + engine.config.poll_interval;
            backlog = poll(&engine, free).await;
            scheduler.trigger.polled();
        }
        if !wait(&engine, "orchestrations", &scheduler.trigger, next_poll, &mut shutdown).await {
            break;
        }
    }
}

/// Runs until `shutdown` turns true.
pub(crate) async fn activity_worker(engine: Arc<Engine>, mut shutdown: watch::Receiver<bool>) {
    let activities = &engine.activities;
    let mut next_poll = Instant::now();
    loop {
        // While the store takes no writes, claim nothing.
        match sit_out_pause(&engine, &mut shutdown).await {
            Some(true) => continue,
            Some(false) => break,
            None => {}
        }
        let free = activities.slots.free();
        if free > 0 && (activities.trigger.take_poll(engine.clock.now()) || Instant::now() >= next_poll) {
            next_poll = Instant::now() + engine.config.poll_interval;
            let claimed = activities.claim().await;
            if claimed.full {
                // There may be more work waiting: claim again as soon as a slot frees.
                activities.trigger.request_poll();
            }
            if let Some(at) = claimed.next_token_at {
                // A rate limit held tasks back: claim again when it has a token.
                activities.trigger.due_at(at);
            }
            for (task, permit) in claimed.tasks {
                spawn_counted(&engine, run_task(engine.clone(), task, permit));
            }
            learn_next_due(&engine, &activities.trigger).await;
            activities.trigger.polled();
        }
        if activities.slots.free() == 0 {
            // Every slot is taken: neither a due time nor the periodic poll could start anything
            // (both are only looked at with a slot free), and the end of an attempt nudges this
            // worker. Waiting on them, once past, would wake it at once, again and again: a spin
            // for as long as the attempts run.
            if !wait_for_slot(&engine, &activities.trigger, &mut shutdown).await {
                break;
            }
            continue;
        }
        if !wait(&engine, "activities", &activities.trigger, next_poll, &mut shutdown).await {
            break;
        }
    }
}

/// Runs until `shutdown` turns true.
pub(crate) async fn schedule_worker(engine: Arc<Engine>, mut shutdown: watch::Receiver<bool>) {
    let schedules = &engine.schedules;
    let mut next_poll = Instant::now();
    loop {
        // While the store takes no writes, fire nothing.
        match sit_out_pause(&engine, &mut shutdown).await {
            Some(true) => continue,
            Some(false) => break,
            None => {}
        }
        if schedules.trigger.take_poll(engine.clock.now()) || Instant::now() >= next_poll {
            next_poll = Instant::now() + engine.config.poll_interval;
            let tick = schedules.tick().await;
            for instance_id in &tick.wake {
                engine.scheduler.wake(instance_id);
            }
            if let Some(at) = tick.next_due {
                schedules.trigger.due_at(at);
            }
            if tick.more {
                schedules.trigger.request_poll();
            }
            schedules.trigger.polled();
        }
        if !wait(&engine, "schedules", &schedules.trigger, next_poll, &mut shutdown).await {
            break;
        }
    }
}

/// While the store takes no writes for now (see `store_health`), sleeps for the pause and
/// returns whether to go on (false if the host shuts down meanwhile); `None` if it takes writes.
async fn sit_out_pause(engine: &Engine, shutdown: &mut watch::Receiver<bool>) -> Option<bool> {
    let pause = engine.store.health.paused_for()?;
    tokio::select! {
        () = tokio::time::sleep(pause) => Some(true),
        _ = shutdown.changed() => Some(false),
    }
}

/// Sleeps until the next nudge of `trigger`, the due time it knows of (on the clock), or the
/// next periodic poll; false if the host shuts down. Each wake-up of `worker` is counted
/// (`reprise_worker_wakeups_total`): a worker that wakes far more often than it has work spins.
async fn wait(
    engine: &Engine,
    worker: &str,
    trigger: &Trigger,
    next_poll: Instant,
    shutdown: &mut watch::Receiver<bool>,
) -> bool {
    let due = async {
        match trigger.due() {
            Some(at) => engine.clock.sleep_until(at).await,
            None => std::future::pending().await,
        }
    };
    let woke = tokio::select! {
        () = trigger.notified() => true,
        () = due => true,
        () = tokio::time::sleep_until(next_poll.into()) => true,
        _ = shutdown.changed() => false,
    };
    engine.metrics.worker_woke(worker);
    woke
}

/// With every activity slot taken: sleeps until the next nudge of `trigger` (the end of an
/// attempt) or one poll interval from now, for the slots freed without a nudge (an episode gives
/// back the permits its commit did not use, or its commit fails); false if the host shuts down.
async fn wait_for_slot(engine: &Engine, trigger: &Trigger, shutdown: &mut watch::Receiver<bool>) -> bool {
    let woke = tokio::select! {
        () = trigger.notified() => true,
        () = tokio::time::sleep(engine.config.poll_interval) => true,
        _ = shutdown.changed() => false,
    };
    engine.metrics.worker_woke("activities");
    woke
}

/// Asks the store for ready instances (up to `free` of them are started) and for the next time
/// work becomes due. Returns whether it found more than it could start.
async fn poll(engine: &Arc<Engine>, free: usize) -> bool {
    let mut backlog = false;
    if free > 0 {
        let (owner, now) = (engine.config.owner.clone(), engine.clock.now());
        // Ask for enough to skip the ones already running here or backing off.
        let limit = engine.scheduler.poll_size(free);
        match engine.store.call(move |store| store.ready_instances(&owner, now, limit)).await {
            Ok(ready) => {
                backlog = ready.len() >= limit;
                let mut started = 0;
                for id in ready {
                    if started == free {
                        break;
                    }
                    if let Some(slot) = engine.scheduler.slot_for_ready(&id, now) {
                        spawn_counted(engine, run_episode(engine.clone(), slot, None));
                        started += 1;
                    }
                }
            }
            Err(error) => tracing::error!("cannot look for ready instances: {error}"),
        }
    }
    learn_next_due(engine, &engine.scheduler.trigger).await;
    backlog
}

/// Asks the store when work next becomes due (a timer, a retry) and has `trigger` wake its
/// worker then: part of each poll of either worker.
async fn learn_next_due(engine: &Engine, trigger: &Trigger) {
    let now = engine.clock.now();
    match engine.store.call(move |store| store.next_due(now)).await {
        Ok(Some(due)) => trigger.due_at(due),
        Ok(None) => {}
        Err(error) => tracing::warn!("cannot look for the next due timer or retry: {error}"),
    }
}

/// Runs `work` (an episode, or an attempt and the episode it may run after) on a task of its
/// own, counted in flight until it ends.
fn spawn_counted(engine: &Engine, work: impl Future<Output = ()> + Send + 'static) {
    let counted = engine.in_flight.start();
    tokio::spawn(async move {
        work.await;
        drop(counted);
    });
}

/// Runs an episode in `slot` (begun by `begun`, if the caller took its lock and read its
/// messages already), does what its commit left to do, then gives the slot back.
pub(crate) async fn run_episode(engine: Arc<Engine>, mut slot: EpisodeSlot, begun: Option<(EpisodeStart, Timestamp)>) {
    let (start, now) = match begun {
        Some(begun) => begun,
        None => match engine.episodes.begin(slot.instance_id()).await {
            Ok(Some(begun)) => begun,
            Ok(None) => {
                slot.ended(EpisodeEnd::Nothing);
                return;
            }
            Err(error) => {
                tracing::error!(instance = %slot.instance_id(), "cannot lock instance: {error}");
                slot.ended(EpisodeEnd::BackOff);
                return;
            }
        },
    };
    let outcome = engine.episodes.run(start, now).await;
    slot.ended(if outcome.back_off { EpisodeEnd::BackOff } else { EpisodeEnd::Done });
    follow(&engine, outcome);
}

/// Does what a committed episode left to do, in order.
fn follow(engine: &Arc<Engine>, outcome: Outcome) {
    let Outcome { instance_id, committed, after, permits, .. } = outcome;
    let now = engine.clock.now();
    let mut permits = permits.into_iter();
    for action in after {
        match action {
            AfterCommit::Run(task) => match permits.next() {
                Some(permit) => spawn_counted(engine, run_task(engine.clone(), task, permit)),
                // The runner holds one slot per task it claims; a missing one is a bug, and the
                // task's lease expiry runs it anyway.
                None => tracing::error!(instance = %instance_id, "a claimed task came without its slot"),
            },
            AfterCommit::PollActivities => engine.activities.trigger.request_poll(),
            AfterCommit::Wake { instance_id, at } => engine.scheduler.announce(&instance_id, at, now),
            AfterCommit::Notify => engine.watchers.committed(&instance_id),
            // The runner parks and logs itself.
            AfterCommit::Park | AfterCommit::Failed(_) => {}
        }
    }
    if committed {
        engine.watchers.stepped();
    }
}

/// Runs one attempt of a claimed task in its slot, records its result and, if no episode of
/// the instance runs and a slot is free for one, runs the next episode itself: its lock is taken
/// and its messages read by the very write that records the result, and no worker has to be
/// woken to find it.
async fn run_task(engine: Arc<Engine>, task: ActivityTask, permit: Permit) {
    let activities = &engine.activities;
    let result = activities.attempt(&task).await;
    let retry_at = match &result.0 {
        ActivityResult::Retry { next_attempt_at, .. } => Some(*next_attempt_at),
        _ => None,
    };
    // Free the slot before the nudge, or the dispatcher could find none free and sleep.
    drop(permit);
    activities.trigger.nudge();

    let key = task.key;
    let slot = engine.scheduler.slot_for(&key.instance_id, engine.clock.now());
    let recorded = activities.record(&key, &result, slot.is_some()).await;
    if let Some(at) = retry_at {
        activities.trigger.due_at(at);
    }
    if activities.frees_a_limit(&task.name) {
        // Its lease is gone with the result: a task its limit held back may go now.
        activities.trigger.request_poll();
    }
    match (recorded, slot) {
        (Recorded::Begun(start, now), Some(slot)) => run_episode(engine.clone(), slot, Some((*start, now))).await,
        // Recorded for an instance this task could not run (another episode of it runs, or no
        // slot was free, or another owner holds it): it runs when the slot it waits for frees.
        (Recorded::Written | Recorded::Begun(..), slot) => {
            engine.scheduler.wake(&key.instance_id);
            drop(slot);
        }
        (Recorded::Not, slot) => drop(slot),
    }
}
