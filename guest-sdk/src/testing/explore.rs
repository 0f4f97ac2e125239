//! Schedule exploration: an orchestration run under every order in which its completions may
//! reach it (or a seeded sample of them, when there are too many), each run checked by the
//! test's assertions.
//!
//! A run is a sequence of steps taken one at a time for the instance under test: an attempt of
//! one of its activities ends (and its result alone is delivered, as one episode), one message
//! waiting for it is delivered alone (a timer that fired, an entity's answer, a child's result,
//! an event), the clock moves to the next time something is due (so a timer may fire before a
//! slow activity ends), or one of the events the test declared arrives. Everything else in the
//! world (sub-orchestrations, entities) runs as soon as it is due. The runs are enumerated depth
//! first; each is deterministic, so an order that fails fails again when run alone.

use std::panic::{AssertUnwindSafe, catch_unwind};

use reprise_core::{Message, OutgoingMessage, Payload};
use serde::Serialize;

use super::Harness;
use super::guest::OrchestratorFn;
use super::run::Run;
use super::world::{Choice, World};

/// An exploration being set up: [`Harness::explore`], then [`Explorer::check`].
pub struct Explorer<'h> {
    harness: &'h Harness,
    name: String,
    function: OrchestratorFn,
    input: String,
    events: Vec<(String, String)>,
    max_runs: usize,
    seed: u64,
}

/// One order under which the check failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedOrder {
    /// The steps of the run, in order (`activity 'charge' (task 0) ends`, `the timer (task 1)
    /// fires`...).
    pub order: Vec<String>,
    /// What the check said (its panic message).
    pub message: String,
}

/// What an exploration found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exploration {
    /// How many orders were run.
    pub runs: usize,
    /// True if they were all the orders there are; false if there were more than the limit, and
    /// a seeded sample was run instead.
    pub exhaustive: bool,
    /// The orders under which the check failed.
    pub failures: Vec<FailedOrder>,
}

impl Exploration {
    /// Panics, listing the failing orders, if there are any.
    pub fn assert_all_pass(&self) {
        if self.failures.is_empty() {
            return;
        }
        let mut text = format!(
            "{} of {} orders ({}) failed the check:\n",
            self.failures.len(),
            self.runs,
            if self.exhaustive { "all there are" } else { "a sample" }
        );
        for failure in self.failures.iter().take(5) {
            text += &format!("\n  {}\n  order:\n", failure.message);
            for step in &failure.order {
                text += &format!("    - {step}\n");
            }
        }
        if self.failures.len() > 5 {
            text += &format!("\n  ...and {} more\n", self.failures.len() - 5);
        }
        panic!("{text}");
    }
}

/// The steps a run may take at one point: the world's, and the declared events not raised yet.
#[derive(Debug, Clone)]
enum Step {
    World(Choice),
    Event(usize),
}

impl<'h> Explorer<'h> {
    pub(crate) fn new(harness: &'h Harness, name: String, function: OrchestratorFn, input: String) -> Self {
        Explorer { harness, name, function, input, events: Vec::new(), max_runs: 1_000, seed: 0 }
    }

    /// An event that may arrive at any point of the run (once per run), in every order with the
    /// rest.
    ///
    /// # Panics
    ///
    /// If `data` does not serialize to JSON.
    pub fn event<T: Serialize + ?Sized>(mut self, name: &str, data: &T) -> Self {
        let data = serde_json::to_string(data).expect("the event's data serializes to JSON");
        self.events.push((name.to_string(), data));
        self
    }

    /// The most runs: when there are more orders than this, this many are drawn at random
    /// (see [`Explorer::seed`]). 1,000 by default.
    pub fn max_runs(mut self, runs: usize) -> Self {
        self.max_runs = runs.max(1);
        self
    }

    /// The seed of the sample drawn when there are too many orders (0 by default): the same
    /// seed draws the same orders.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Runs the orchestration under every order (or a sample), calls `check` on each finished
    /// run (it asserts, and a panic marks the order as failing), and says what it found. Call
    /// [`Exploration::assert_all_pass`] on the result to fail the test.
    pub fn check(self, check: impl Fn(&Run)) -> Exploration {
        let mut failures = Vec::new();
        let mut runs = 0;
        // Depth first: the choices of the last run, and how many there were at each point.
        let mut path: Vec<(usize, usize)> = Vec::new();
        let mut exhaustive = false;
        while runs < self.max_runs {
            let mut depth = 0;
            let (run, order) = self.run_once(|n| {
                let choice = match path.get(depth) {
                    Some(&(choice, _)) => choice,
                    None => {
                        path.push((0, n));
                        0
                    }
                };
                depth += 1;
                choice
            });
            path.truncate(depth);
            runs += 1;
            self.judge(&check, run, order, &mut failures);
            while let Some((choice, n)) = path.pop() {
                if choice + 1 < n {
                    path.push((choice + 1, n));
                    break;
                }
            }
            if path.is_empty() {
                exhaustive = true;
                break;
            }
        }
        if !exhaustive {
            // More orders than runs allowed: the depth-first ones all start alike, so draw a
            // sample from the whole tree instead.
            let mut rng = SplitMix(self.seed);
            for _ in 0..self.max_runs {
                let (run, order) = self.run_once(|n| (rng.next() % n as u64) as usize);
                runs += 1;
                self.judge(&check, run, order, &mut failures);
            }
            failures.dedup_by(|a, b| a.order == b.order);
        }
        Exploration { runs, exhaustive, failures }
    }

    fn judge(&self, check: &impl Fn(&Run), run: Run, order: Vec<String>, failures: &mut Vec<FailedOrder>) {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| check(&run))) {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "the check panicked".into());
            failures.push(FailedOrder { order, message });
        }
    }

    /// One run, with `pick(n)` choosing among `n` steps at each point that has more than one.
    fn run_once(&self, mut pick: impl FnMut(usize) -> usize) -> (Run, Vec<String>) {
        let mut world: World = self.harness.world_with(&self.name, self.function.clone());
        let root = self.harness.root_id();
        // The first episode is the same in every order: it is not a step.
        world.create_root(&root, &self.name, &self.input, true);
        let mut raised = vec![false; self.events.len()];
        let mut order = Vec::new();
        loop {
            world.settle_others(&root);
            if world.instances.get(&root).is_some_and(|i| i.status.is_terminal()) {
                break;
            }
            let mut steps: Vec<Step> = world.choices(&root).into_iter().map(Step::World).collect();
            steps.extend(raised.iter().enumerate().filter(|(_, r)| !**r).map(|(i, _)| Step::Event(i)));
            let step = match steps.len() {
                0 => break,
                1 => steps.remove(0),
                n => steps.swap_remove(pick(n).min(n - 1)),
            };
            order.push(self.describe(&world, &step));
            match step {
                Step::World(choice) => world.take(&root, &choice),
                Step::Event(index) => {
                    raised[index] = true;
                    let (name, data) = &self.events[index];
                    let message = Message::EventRaised { name: name.clone(), data: Payload::stored(data.clone()) };
                    let now = world.now;
                    world.send(OutgoingMessage {
                        instance_id: root.clone(),
                        message,
                        visible_at: now,
                        execution: None,
                    });
                    let seq = world.last_seq();
                    world.take(&root, &Choice::Deliver(seq));
                }
            }
        }
        world.settle();
        (Run { world, root }, order)
    }

    fn describe(&self, world: &World, step: &Step) -> String {
        match step {
            Step::Event(index) => format!("event '{}' is raised", self.events[*index].0),
            Step::World(choice) => world.describe(choice),
        }
    }
}

/// A small, fixed pseudo-random sequence (SplitMix64): the sample must be the same for a seed on
/// every platform and every version.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}
