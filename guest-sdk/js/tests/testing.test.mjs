// Tests of the JavaScript test harness (../testing.js) itself. Run from the project root:
//
//   node --import ./guest-sdk/js/testing/register.mjs --test guest-sdk/js/tests/
//
// (tests/all/sdk_testing_js.rs runs them under `cargo test`.)

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { EntityId, Failure, RetryPolicy, exports as sdkExports, updateValidator } from "../reprise.js";
import { DEFAULT_START_TIME, Harness, ReplayError, UnsupportedError, replay } from "../testing.js";
import { delayAfter, powi, uuidV5 } from "../testing/host-rules.js";
import * as orchestration from "../testing/interfaces/orchestration.js";

const T0 = DEFAULT_START_TIME;
const DAY = 24 * 60 * 60 * 1000;
const golden = (name) => readFileSync(new URL(`../../../tests/golden/${name}`, import.meta.url), "utf8");

/** A transfer with a refund, as seed 002: debit, credit, and a refund when the credit fails. */
function transfer(ctx, { from, to, amount }) {
  ctx.callActivity("debit", { account: from, amount });
  try {
    ctx.callActivity("credit", { account: to, amount }, { retry: new RetryPolicy({ maxAttempts: 3, firstRetryIntervalMs: 1000, backoffCoefficient: 2 }) });
    return { status: "transferred" };
  } catch (error) {
    ctx.callActivity("refund", { account: from, amount });
    return { status: "refunded", reason: error.cause?.errorType };
  }
}

test("activities answered by functions see the host's activity context", async () => {
  const seen = [];
  const run = await new Harness()
    .instanceId("order-7")
    .activity("debit", (ctx, input) => {
      seen.push({ attempt: ctx.attempt, instanceId: ctx.instanceId, taskId: ctx.taskId, key: ctx.idempotencyKey, input });
      return "ok";
    })
    .activity("credit", () => "ok")
    .start(transfer, { from: "A", to: "B", amount: 5 });
  assert.equal(run.status, "Completed");
  assert.deepEqual(run.output, { status: "transferred" });
  assert.deepEqual(seen, [{ attempt: 1, instanceId: "order-7", taskId: 0n, key: "order-7/1/0", input: { account: "A", amount: 5 } }]);
  assert.deepEqual(run.commands, ["schedule activity 'debit'", "schedule activity 'credit'", "complete the orchestration"]);
});

test("failed attempts are retried with the host's backoff, at their virtual times", async () => {
  const run = await new Harness()
    .activityResults("debit", ["ok"])
    .activityResults("credit", [new Failure("Unavailable", "down"), new Failure("Unavailable", "still down"), "ok"])
    .start(transfer, { from: "A", to: "B", amount: 5 });
  // The first retry waits 1 s: nothing happens before.
  assert.equal(run.status, "Running");
  await run.advance(999);
  assert.deepEqual(run.activityCalls.map((c) => [c.name, c.attempt]), [["debit", 1], ["credit", 1]]);
  await run.advance(1);
  assert.deepEqual(run.activityCalls.map((c) => [c.name, c.attempt]), [["debit", 1], ["credit", 1], ["credit", 2]]);
  // The second waits 1 s × 2.
  await run.advance(2000);
  assert.equal(run.status, "Completed");
  assert.deepEqual(run.output, { status: "transferred" });
  const retries = run.history.filter((e) => e.type === "ActivityRetrying");
  assert.deepEqual(
    retries.map((e) => [e.attempt, e.next_attempt_at, e.failure.message]),
    [
      [1, T0 + 1000, "down"],
      [2, T0 + 3000, "still down"],
    ],
  );
  assert.equal(run.now, T0 + 3000);
});

test("the last attempt's failure reaches the orchestrator wrapped as ActivityFailed", async () => {
  const run = await new Harness()
    .activityResults("debit", ["ok"])
    .activityResults("credit", [new Failure("AccountFrozen", "account B is frozen")])
    .activityResults("refund", ["ok"])
    .start(transfer, { from: "A", to: "B", amount: 5 });
  await run.runToCompletion();
  assert.deepEqual(run.output, { status: "refunded", reason: "AccountFrozen" });
  assert.equal(run.now, T0 + 3000, "three attempts: waits of 1 s and 2 s");
  const failed = run.history.find((e) => e.type === "ActivityFailed");
  assert.deepEqual(failed.failure, {
    error_type: "ActivityFailed",
    message: "activity 'credit' failed: account B is frozen",
    causes: [{ error_type: "AccountFrozen", message: "account B is frozen" }],
  });
  assert.deepEqual(run.commands, [
    "schedule activity 'debit'",
    "schedule activity 'credit'",
    "schedule activity 'refund'",
    "complete the orchestration",
  ]);
});

test("non-retryable error types and the retry timeout stop retries as on the host", async () => {
  const policy = (extra) => new RetryPolicy({ maxAttempts: 10, firstRetryIntervalMs: 1000, ...extra });
  const calls = (ctx, extra) => {
    try {
      return ctx.callActivity("flaky", null, { retry: policy(extra) });
    } catch (error) {
      return error.cause.errorType;
    }
  };
  const frozen = await new Harness()
    .activityResults("flaky", [new Failure("Wrapper", "x", { causes: [{ errorType: "Frozen", message: "f" }] })])
    .start((ctx) => calls(ctx, { nonRetryableErrors: ["Frozen"] }));
  assert.equal(frozen.output, "Wrapper");
  assert.equal(frozen.activityCalls.length, 1, "a cause of a non-retryable type is matched too");
  const timedOut = await new Harness()
    .activityResults("flaky", [new Failure("Busy", "b")])
    .start((ctx) => calls(ctx, { retryTimeoutMs: 2500 }));
  await timedOut.runToCompletion();
  assert.equal(timedOut.output, "Busy");
  assert.equal(timedOut.activityCalls.length, 3, "a third retry would start 3 s after the first attempt");
  assert.deepEqual([delayAfter({ first_retry_interval_ms: 100, backoff_coefficient: 2, max_retry_interval_ms: 1000 }, 5)], [1000]);
});

test("backoff is computed as the host's f64 arithmetic does: powi by squaring, min ignoring NaN", async () => {
  const policy = { first_retry_interval_ms: 1000, backoff_coefficient: 1.2 };
  // 1.2 ** 3 is 1.7279999999999998; the host's powi (compiler-rt's __powidf2) gives 1.728.
  assert.deepEqual([1, 2, 3, 4, 5].map((attempt) => delayAfter(policy, attempt)), [1000, 1200, 1440, 1728, 2073]);
  // Values of Rust's powi at run time (`black_box(c).powi(black_box(e))`).
  assert.deepEqual([powi(1.1, 7), powi(1.3, 13), powi(1.7, 1023), powi(1.01, 1024)], [1.9487171000000012, 30.28751065922532, 5.613666005341569e235, 26612.566117305338]);
  // 0 × ∞ is NaN: Rust's f64::min gives the cap, as the host waits; no cap saturates.
  const nan = { first_retry_interval_ms: 0, backoff_coefficient: 1e300 };
  assert.equal(delayAfter({ ...nan, max_retry_interval_ms: 5000 }, 3), 5000);
  assert.equal(delayAfter(nan, 3), 18_446_744_073_709_551_615);
  // The retries a run records wait the same.
  const run = await new Harness()
    .activityResults("flaky", [new Failure("Busy", "b"), new Failure("Busy", "b"), new Failure("Busy", "b"), new Failure("Busy", "b"), "ok"])
    .start((ctx) => ctx.callActivity("flaky", null, { retry: new RetryPolicy({ maxAttempts: 5, firstRetryIntervalMs: 1000, backoffCoefficient: 1.2 }) }));
  await run.runToCompletion();
  const waits = run.history.filter((e) => e.type === "ActivityRetrying").map((e) => e.next_attempt_at - T0);
  assert.deepEqual(waits, [1000, 2200, 3640, 5368]);
});

test("a 30-day timer fires when the clock is moved, and completes with its fire time", async () => {
  const run = await new Harness().start((ctx) => ctx.createTimer(30 * DAY).result());
  assert.equal(run.status, "Running");
  await run.advance(30 * DAY - 1);
  assert.equal(run.status, "Running");
  await run.advance(1);
  assert.equal(run.status, "Completed");
  assert.equal(run.output, T0 + 30 * DAY);
  const episodes = run.history.filter((e) => e.type === "EpisodeStarted").map((e) => e.time);
  assert.deepEqual(episodes, [T0, T0 + 30 * DAY]);
});

/** Waits for an approval for a day, reporting where it is in its custom status. */
function approval(ctx) {
  ctx.setCustomStatus("waiting");
  const event = ctx.waitForExternalEvent("Approval");
  const timeout = ctx.createTimer(DAY);
  const winner = ctx.taskAny([event, timeout]);
  ctx.setCustomStatus("decided");
  return winner === event ? { approved: event.result().by } : { approved: false };
}

test("an event raised in time wins the race against the timeout", async () => {
  const run = await new Harness().start(approval);
  assert.equal(run.customStatus, "waiting");
  await run.advance(DAY / 2);
  await run.raiseEvent("Approval", { by: "alice" });
  assert.equal(run.customStatus, "decided");
  assert.deepEqual(run.output, { approved: "alice" });
  assert.deepEqual(run.commands, ["wait for event 'Approval'", "schedule a timer", "complete the orchestration"]);
});

test("the timeout wins when no event comes; runToCompletion says which event is missing", async () => {
  const late = await new Harness().start(approval);
  await late.advance(DAY);
  assert.deepEqual(late.output, { approved: false });
  const forever = await new Harness().start((ctx) => ctx.waitForExternalEvent("Approval").result());
  await assert.rejects(forever.runToCompletion(), /waits for the event\(s\) 'Approval': raise them with run.raiseEvent/);
});

test("events raised before the wait are buffered, oldest first, one per wait", async () => {
  const run = await new Harness().start((ctx) => {
    ctx.createTimer(1000).result();
    return [ctx.waitForExternalEvent("E").result(), ctx.waitForExternalEvent("E").result()];
  });
  await run.raiseEvent("E", 1);
  await run.raiseEvent("E", 2);
  assert.equal(run.status, "Running");
  await run.advance(1000);
  assert.deepEqual(run.output, [1, 2]);
});

test("the code's own catch cannot go on past a wait the episode cannot answer", async () => {
  let catches = 0;
  const run = await new Harness().start((ctx) => {
    try {
      return ctx.createTimer(1000).result();
    } catch (error) {
      // Only a real failure of the timer would come here; the harness's unwinding must not issue this.
      catches += 1;
      ctx.callActivity("compensate");
      return "caught";
    }
  });
  assert.equal(run.status, "Running");
  assert.deepEqual(run.commands, ["schedule a timer"]);
  await run.advance(1000);
  assert.equal(run.output, T0 + 1000);
  assert.deepEqual(run.commands, ["schedule a timer", "complete the orchestration"]);
  assert.ok(catches > 0, "the unwinding did pass through the catch, and issued nothing");
});

test("code that decides differently on replay fails as on the host", async () => {
  let runs = 0;
  const run = await new Harness()
    .activity("a", () => 1)
    .activity("b", () => 2)
    .start((ctx) => {
      runs += 1;
      return ctx.callActivity(runs === 1 ? "a" : "b");
    });
  assert.equal(run.status, "Failed");
  assert.equal(run.failure.error_type, "NondeterminismError");
  assert.equal(
    run.failure.message,
    "nondeterminism at history position 2: the history records that the orchestrator did [schedule activity 'a' " +
      "(task 0)], but on replay it did [schedule activity 'b']; the orchestrator's code changed under a running " +
      "instance, or depends on something the host does not record",
  );
});

test("sub-orchestrations run with the host's child ids and failure wrapping", async () => {
  const run = await new Harness()
    .orchestrator("child", (ctx, n) => {
      if (n < 0) throw new Failure("Negative", `${n} is negative`);
      return { id: ctx.instanceId, doubled: ctx.callActivity("double", n) };
    })
    .activity("double", (ctx, n) => n * 2)
    .start((ctx) => {
      const ok = ctx.callSubOrchestrator("child", 21);
      try {
        ctx.callSubOrchestrator("child", -1, { instanceId: "the-negative-one" });
      } catch (error) {
        return { ok, failed: [error.errorType, error.message, error.cause.errorType] };
      }
    });
  assert.deepEqual(run.output, {
    ok: { id: "test-instance:1:0", doubled: 42 },
    failed: ["SubOrchestrationFailed", "sub-orchestration 'child' (instance the-negative-one) failed: -1 is negative", "Negative"],
  });
  assert.equal(run.instance("test-instance:1:0").status, "Completed");
  assert.deepEqual(run.commands, ["start sub-orchestration 'child'", "start sub-orchestration 'child'", "complete the orchestration"]);
});

test("continue-as-new starts the next execution with a new history", async () => {
  const run = await new Harness().start((ctx, n) => {
    if (n > 0) {
      ctx.createTimer(1000).result();
      ctx.continueAsNew(n - 1);
      return null;
    }
    return "done";
  }, 2);
  await run.runToCompletion();
  assert.equal(run.output, "done");
  assert.deepEqual(run.executions.map((e) => e.execution), [1, 2, 3]);
  assert.equal(run.history[1].input, "0");
  assert.deepEqual(run.commands, ["schedule a timer", "continue as new", "schedule a timer", "continue as new", "complete the orchestration"]);
});

test("entity calls are refused with an error naming the call", async () => {
  await assert.rejects(
    new Harness().start((ctx) => ctx.callEntity(new EntityId("Counter", "c"), "add", 1)),
    (error) => error instanceof UnsupportedError && /callEntity\/scheduleEntityCall\('add'\) on @Counter@c/.test(error.message),
  );
  // Whatever runs the episode that calls one: raising an event, moving time, replaying.
  const waiting = await new Harness().start((ctx) => {
    ctx.waitForExternalEvent("Go").result();
    ctx.signalEntity(new EntityId("Counter", "c"), "add", 1);
  });
  await assert.rejects(waiting.raiseEvent("Go"), (error) => error instanceof UnsupportedError && /signalEntity\('add'\)/.test(error.message));
  const timed = await new Harness().start((ctx) => {
    ctx.createTimer(1000).result();
    ctx.lock([new EntityId("Counter", "c")]);
  });
  await assert.rejects(timed.advance(1000), (error) => error instanceof UnsupportedError && /lock\(\[@Counter@c\]\)/.test(error.message));
  const recorded = [
    { seq: 0, type: "EpisodeStarted", time: T0 },
    { seq: 1, type: "ExecutionStarted", name: "signals", input: "null", component: "" },
  ];
  assert.throws(() => replay(recorded, (ctx) => ctx.signalEntity(new EntityId("Counter", "c"), "add", 1)), UnsupportedError);
});

test("newGuid is the host's name-based UUID, the same on every replay", async () => {
  // RFC 4122's example: the DNS namespace and www.example.com.
  const dns = Buffer.from("6ba7b8109dad11d180b400c04fd430c8", "hex");
  assert.equal(uuidV5(dns, "www.example.com"), "2ed6657d-e927-568b-95e1-2665a8aea6a2");
  const guids = [];
  const run = await new Harness().start((ctx) => {
    const guid = ctx.newGuid();
    guids.push(guid);
    ctx.createTimer(10).result();
    return guid;
  });
  await run.advance(10);
  assert.equal(guids.length, 2);
  assert.equal(guids[0], guids[1]);
  assert.equal(run.output, guids[0]);
});

/** Seed 001's fan-out/fan-in, as the Rust guest `fan-out` writes it (guests/fan-out/src/lib.rs). */
function fanOutFanIn(ctx, { items }) {
  const tasks = [];
  for (let i = 0; i < items; i++) tasks.push(ctx.scheduleActivity("process_item", i));
  ctx.setCustomStatus(`${tasks.length} items scheduled`);
  const result = { processed: 0, failed: 0, total: 0, failures: [] };
  ctx.taskAll(tasks, { settle: true }).forEach((outcome, i) => {
    if (outcome.ok) {
      result.processed += 1;
      result.total += outcome.value;
    } else {
      result.failed += 1;
      result.failures.push(`item ${i}: ${outcome.error.cause.message}`);
    }
  });
  return result;
}

test("a golden bundle the host wrote replays, and a changed orchestrator diverges with the host's message", () => {
  const bundle = golden("fan-out.golden-fan-out.reprise");
  const replayed = replay(bundle, fanOutFanIn);
  assert.equal(replayed.status, "Completed");
  assert.deepEqual(replayed.output, JSON.parse(JSON.parse(bundle).instance.output));
  assert.equal(replayed.customStatus, "6 items scheduled");
  assert.deepEqual(replayed.commands, [...Array(6).fill("schedule activity 'process_item'"), "complete the orchestration"]);

  const renamed = (ctx, { items }) => ctx.taskAll(Array.from({ length: items }, (_, i) => ctx.scheduleActivity("process", i)));
  assert.throws(
    () => replay(bundle, renamed),
    (error) =>
      error instanceof ReplayError &&
      error.position === 2 &&
      error.message ===
        "nondeterminism at history position 2: the history records that the orchestrator did [schedule activity " +
          "'process_item' (task 0)], but on replay it did [schedule activity 'process']; the orchestrator's code " +
          "changed under a running instance, or depends on something the host does not record",
  );
  const fewer = (ctx, input) => fanOutFanIn(ctx, { items: input.items - 1 });
  assert.throws(() => replay(bundle, fewer), /position 7: the history records that the orchestrator did \[schedule activity 'process_item' \(task 5\)\], but on replay it did \[wait for a task that has not completed\]/);
});

test("replay takes `reprise history --json` (embedded payloads, RFC 3339 times) and stops where the run waited", async () => {
  const run = await new Harness().start(approval);
  const cli = run.history.map((event) => {
    const out = { ...event };
    for (const key of ["input", "output", "data"]) if (key in out) out[key] = JSON.parse(out[key]);
    for (const key of ["time", "fire_at"]) if (key in out) out[key] = new Date(out[key]).toISOString();
    return out;
  });
  const replayed = replay(JSON.stringify(cli), approval);
  assert.equal(replayed.status, "Running");
  assert.equal(replayed.customStatus, "waiting");
  assert.deepEqual(replayed.commands, ["wait for event 'Approval'", "schedule a timer"]);
  // Issuing more than was recorded before the wait reads as the end of recorded history.
  const more = (ctx) => {
    ctx.waitForExternalEvent("Approval");
    ctx.createTimer(DAY);
    ctx.createTimer(DAY);
  };
  assert.throws(() => replay(cli, more), /position 4: the history records that the orchestrator did \[wait for a task that had not completed \(end of recorded history\)\], but on replay it did \[schedule a timer\]/);
});

test("a failed sub-orchestration is retried by its policy as a new execution of the child", async () => {
  const run = await new Harness()
    .orchestrator("flaky_child", (ctx) => {
      if (ctx.callActivity("attempts") < 2) throw new Failure("NotYet", "first try fails");
      return "second try";
    })
    .activity("attempts", (() => {
      let calls = 0;
      return () => ++calls;
    })())
    .start((ctx) => ctx.callSubOrchestrator("flaky_child", null, { retry: new RetryPolicy({ maxAttempts: 2, firstRetryIntervalMs: 5000 }) }));
  assert.equal(run.status, "Running");
  const retrying = run.history.find((e) => e.type === "SubOrchestrationRetrying");
  assert.deepEqual([retrying.attempt, retrying.next_attempt_at, retrying.failure.error_type], [1, T0 + 5000, "NotYet"]);
  await run.advance(4999);
  assert.equal(run.status, "Running");
  await run.advance(1);
  assert.equal(run.output, "second try");
  const child = run.instance("test-instance:1:0");
  assert.equal(child.status, "Completed");
  assert.equal(child.history[0].time, T0 + 5000, "the child's second execution starts once the wait has passed");
});

test("an event raised on a child waiting for its retry waits for the child's next start, as on the host", async () => {
  const run = await new Harness()
    .orchestrator("child", (ctx) => {
      if (ctx.callActivity("attempt") === 1) throw new Failure("NotYet", "first attempt fails");
      return ctx.waitForExternalEvent("Go").result();
    })
    .activity("attempt", (() => {
      let calls = 0;
      return () => ++calls;
    })())
    .start((ctx) => {
      const child = ctx.scheduleSubOrchestrator("child", null, {
        instanceId: "the-child",
        retry: new RetryPolicy({ maxAttempts: 2, firstRetryIntervalMs: 5000 }),
      });
      ctx.createTimer(1000).result();
      // The child failed at once and waits 5 s for its second attempt: it has no start yet.
      ctx.raiseEvent("the-child", "Go", "went");
      return child.result();
    });
  await run.advance(1000);
  assert.equal(run.instance("the-child").status, "ContinuedAsNew");
  await run.advance(4000);
  assert.equal(run.status, "Completed");
  assert.equal(run.output, "went");
  // The start was sent first (when the first attempt failed), the event after.
  assert.deepEqual(
    run.instance("the-child").history.map((e) => e.type),
    ["EpisodeStarted", "ExecutionStarted", "EventRaised", "ActivityScheduled", "EpisodeStarted", "ActivityCompleted", "EventWaitStarted", "ExecutionCompleted"],
  );
  assert.equal(run.instance("the-child").history[0].time, T0 + 5000);
});

test("a sub-orchestration whose id is taken fails with InstanceExists, and the instance keeps its own run", async () => {
  const run = await new Harness()
    .orchestrator("child", (ctx, n) => n * 2)
    .start((ctx) => {
      const first = ctx.callSubOrchestrator("child", 1, { instanceId: "shared" });
      const failures = [];
      for (const instanceId of ["shared", "test-instance"]) {
        try {
          ctx.callSubOrchestrator("child", 2, { instanceId });
        } catch (error) {
          failures.push([error.errorType, error.message, error.cause.errorType, error.cause.message]);
        }
      }
      return { first, failures };
    });
  assert.deepEqual(run.output, {
    first: 2,
    failures: [
      ["SubOrchestrationFailed", "sub-orchestration 'child' (instance shared) failed: an instance with id 'shared' already exists", "InstanceExists", "an instance with id 'shared' already exists"],
      [
        "SubOrchestrationFailed",
        "sub-orchestration 'child' (instance test-instance) failed: an instance with id 'test-instance' already exists",
        "InstanceExists",
        "an instance with id 'test-instance' already exists",
      ],
    ],
  });
  const shared = run.instance("shared");
  assert.equal(shared.status, "Completed");
  assert.equal(shared.output, 2, "the first child's run is untouched");
  assert.equal(shared.history[1].input, "1");
});

test("a sub-orchestration id the host refuses ends the parent as GuestTrapped with the host's message", async () => {
  const refused = async (instanceId, harness = new Harness()) => {
    const run = await harness.orchestrator("child", () => "ran").start((ctx) => {
      try {
        return ctx.callSubOrchestrator("child", null, { instanceId });
      } catch (error) {
        return `caught ${error.errorType}`; // a trap is not the orchestrator's to catch
      }
    });
    assert.equal(run.status, "Failed");
    assert.equal(run.failure.error_type, "GuestTrapped");
    assert.deepEqual(run.commands, ["fail the orchestration"]);
    return run.failure.message;
  };
  const cannot = "sub-orchestration 'child' cannot start: ";
  assert.equal(await refused(""), `${cannot}an instance id cannot be empty`);
  assert.equal(await refused("@Counter@c"), `${cannot}invalid instance id '@Counter@c': ids that start with '@' are reserved for entities`);
  // Shown as Rust's Debug shows a string: escapes for controls, quotes, backslashes, invisibles.
  assert.equal(await refused('a\nb\t"\\\u007f\u0301é'), `${cannot}invalid instance id "a\\nb\\t\\"\\\\\\u{7f}\\u{301}é": it holds a control character`);
  const long = "é".repeat(513);
  assert.equal(await refused(long), `${cannot}invalid instance id '${"é".repeat(40)}...': it is 1026 bytes long, more than the limit of 1024`);
  // A derived id (`<parent>:<execution>:<task>`) that breaks the rules is the replay engine's refusal.
  const parent = new Harness().instanceId("p".repeat(1021));
  const derived = await refused(undefined, parent);
  assert.equal(derived, `the sub-orchestration cannot start: invalid instance id '${"p".repeat(40)}...': it is 1025 bytes long, more than the limit of 1024`);
  // The root's id is checked where the test sets it.
  assert.throws(() => new Harness().instanceId("@x"), /^Error: the instance id '@x' cannot be used: invalid instance id '@x': ids that start with '@' are reserved for entities$/);
});

test("a retried sub-orchestration nobody provides fails every attempt as OrchestratorNotFound", async () => {
  const run = await new Harness().start((ctx) => {
    try {
      return ctx.callSubOrchestrator("nowhere", null, { retry: new RetryPolicy({ maxAttempts: 2, firstRetryIntervalMs: 1000 }) });
    } catch (error) {
      return [error.errorType, error.cause.errorType, error.cause.message];
    }
  });
  await run.runToCompletion();
  const notFound = "no orchestrator named 'nowhere' is registered or given with harness.orchestrator";
  assert.deepEqual(run.output, ["SubOrchestrationFailed", "OrchestratorNotFound", notFound]);
  const retrying = run.history.find((e) => e.type === "SubOrchestrationRetrying");
  assert.equal(retrying.failure.error_type, "OrchestratorNotFound");
  // Each attempt is an execution of the child that ends without running any code.
  const child = run.instance("test-instance:1:0");
  assert.deepEqual(child.history.map((e) => e.type), ["EpisodeStarted", "ExecutionStarted", "ExecutionFailed"]);
  assert.equal(child.history[0].time, T0 + 1000);
  assert.deepEqual(child.failure, { error_type: "OrchestratorNotFound", message: notFound });
});

test("an error of the harness inside a host call fails the test, whatever the orchestrator catches", async () => {
  let after = 0;
  const swallowing = () => {
    try {
      orchestration.scheduleTimer(Symbol("not a time")); // the stand-in cannot take it
    } catch {
      after += 1;
      return "swallowed";
    }
    return "unreachable";
  };
  await assert.rejects(new Harness().start(swallowing), (error) => error instanceof TypeError && /Symbol/.test(error.message));
  assert.equal(after, 1, "the orchestrator was unwound, and the error came out after the episode");
  const started = [
    { seq: 0, type: "EpisodeStarted", time: T0 },
    { seq: 1, type: "ExecutionStarted", name: "swallowing", input: "null", component: "" },
  ];
  assert.throws(() => replay(started, swallowing), TypeError);
});

test("replay says what it takes when given something else, and replays a bundle's highest execution", () => {
  const none = (ctx) => null;
  assert.throws(() => replay("{not json", none), (error) => {
    return /^not a history: the text is not JSON \(.+\); replay takes the output of `reprise history ID --json`, an export bundle \(`reprise export ID`\) or a Run's history$/.test(error.message);
  });
  assert.throws(() => replay([], none), /^ReplayError: the history holds no start event \(ExecutionStarted\): replay needs a whole execution, from its first event, as `reprise history ID --json` or an export bundle holds it$/);
  const execution = (n, input) => ({
    execution: n,
    events: [
      { seq: 0, type: "EpisodeStarted", time: T0 },
      { seq: 1, type: "ExecutionStarted", name: "echo", input, component: "" },
      { seq: 2, type: "ExecutionCompleted", output: input },
    ],
  });
  // Listed out of order: the highest execution number is the current one, as the host reads it.
  const bundle = { format: "reprise-bundle", instance: { instance_id: "b" }, executions: [execution(1, '"one"'), execution(3, '"three"'), execution(2, '"two"')] };
  const echoed = replay(bundle, (ctx, input) => input);
  assert.equal(echoed.output, "three");
});

test("the clock refuses what is not a whole number of ms", async () => {
  for (const bad of ["x", "1700000000000", NaN, -1, 1.5, new Date("not a date")]) {
    assert.throws(() => new Harness().startTime(bad), TypeError, `startTime(${String(bad)})`);
  }
  assert.equal((await new Harness().startTime(5).start((ctx) => ctx.currentTimeMs)).output, 5);
  const waiting = await new Harness().start((ctx) => ctx.createTimer(1000).result());
  await assert.rejects(waiting.advance(0.5), TypeError);
});

test("runToCompletion says what the run waits for, a child's event included, and where its jumps stop", async () => {
  // A child waiting for an event: the message says which, and where to raise it.
  const parent = await new Harness()
    .orchestrator("approver", (ctx) => ctx.waitForExternalEvent("Approval").result())
    .start((ctx) => ctx.callSubOrchestrator("approver", null, { instanceId: "approver-1" }));
  await assert.rejects(
    parent.runToCompletion(),
    /cannot finish: it waits for sub-orchestration 'approver' \(instance approver-1\), which waits for the event\(s\) 'Approval': raise them with run.raiseEvent\(name, data, \{ instanceId \}\)$/,
  );
  await parent.raiseEvent("Approval", "yes", { instanceId: "approver-1" });
  assert.equal(parent.output, "yes");
  await assert.rejects(parent.raiseEvent("E", null, { instanceId: "nobody" }), /the run has no instance 'nobody'/);

  // A loop of timers that never ends stops at maxJumps, and says what to do.
  const forever = await new Harness().start((ctx) => {
    ctx.createTimer(1000).result();
    ctx.continueAsNew(null);
    return null;
  });
  await assert.rejects(
    forever.runToCompletion({ maxJumps: 10 }),
    /^Error: the orchestration \(Running\) did not finish after 10 timers and retries: if it loops on timers or retries for good, test a stretch of it with run.advance\(ms\); if it is meant to take longer, raise runToCompletion\(\{ maxJumps \}\) \(100000 by default\)$/,
  );
});

/** Answers two `approve` updates (the first with its input upper-cased, the second with a failure). */
function approvals(ctx) {
  const first = ctx.waitForUpdate("approve").result();
  ctx.replyUpdate(first, first.input.toUpperCase());
  const second = ctx.waitForUpdate("approve").result();
  ctx.replyUpdate(second.id, null, { failure: new RangeError("one approval is enough") });
  return [first.input, second.input, first.id, second.id, first.name];
}

test("updates are answered and recorded as the host records them", async () => {
  const run = await new Harness().start(approvals);
  assert.deepEqual(await run.update("approve", "alice"), { id: "update-1", answered: true, output: "ALICE", failure: undefined });
  const second = await run.update("approve", "bob");
  assert.equal(second.failure.error_type, "RangeError");
  assert.equal(second.failure.message, "one approval is enough");
  assert.deepEqual(run.output, ["alice", "bob", "update-1", "update-2", "approve"]);
  assert.deepEqual(run.commands, [
    "wait for update 'approve'",
    "answer update 'update-1'",
    "wait for update 'approve'",
    "answer update 'update-2'",
    "complete the orchestration",
  ]);
  const received = run.history.find((e) => e.type === "UpdateReceived");
  assert.deepEqual(received, { seq: 4, type: "UpdateReceived", update_id: "update-1", name: "approve", input: '"alice"' });
  const replies = run.history.filter((e) => e.type === "UpdateReplied").map((e) => e.reply);
  assert.deepEqual(replies[0], { output: '"ALICE"' });
  assert.equal(replies[1].failure.error_type, "RangeError");
  assert.deepEqual(replay(run.history, approvals).commands, run.commands);
});

test("an update sent before the wait is buffered and answered once the orchestrator gets to it", async () => {
  const late = (ctx) => {
    ctx.createTimer(60_000).result();
    const update = ctx.waitForUpdate("approve").result();
    ctx.replyUpdate(update, "late");
    return update.input;
  };
  const run = await new Harness().start(late);
  const early = await run.update("approve", "carol");
  assert.equal(early.answered, false);
  await run.advance(60_000);
  assert.equal(run.answer("update-1").output, "late");
  assert.equal(run.output, "carol");
});

test("an update wait that loses a race stays pending for the next update", async () => {
  const race = (ctx) => {
    const update = ctx.waitForUpdate("approve");
    if (ctx.taskAny([update, ctx.createTimer(10)]) !== update) {
      ctx.replyUpdate(update.result(), "after the timer");
      return "timer";
    }
    return "update";
  };
  const run = await new Harness().start(race);
  await run.advance(10);
  assert.equal(run.status, "Running");
  assert.equal((await run.update("approve", 1)).output, "after the timer");
  assert.equal(run.output, "timer");
});

test("answering an update twice, or one never received, traps the guest", async () => {
  const twice = (ctx) => {
    const update = ctx.waitForUpdate("approve").result();
    ctx.replyUpdate(update, 1);
    ctx.replyUpdate(update, 2);
  };
  const run = await new Harness().start(twice);
  await run.update("approve");
  assert.equal(run.status, "Failed");
  assert.equal(run.failure.error_type, "GuestTrapped");
  assert.match(run.failure.message, /answered update 'update-1', which it has not received or has already answered/);
  const unknown = await new Harness().start((ctx) => ctx.replyUpdate("never-sent", 1));
  assert.equal(unknown.failure.error_type, "GuestTrapped");
});

test("an update the execution never answers stays unanswered, and one after the end is an error of the test", async () => {
  const run = await new Harness().start((ctx) => ctx.waitForExternalEvent("stop").result());
  assert.equal((await run.update("approve", 1)).answered, false);
  await run.raiseEvent("stop", "done");
  assert.equal(run.output, "done");
  assert.equal(run.answer("update-1").answered, false);
  await assert.rejects(run.update("approve", 2), /sent after the orchestration ended/);
});

test("an answer without a JSON form answers nothing and throws InvalidOutput", async () => {
  const run = await new Harness().start((ctx) => {
    const update = ctx.waitForUpdate("approve").result();
    try {
      ctx.replyUpdate(update, () => 1);
    } catch (failure) {
      ctx.replyUpdate(update, failure.errorType);
    }
  });
  assert.equal((await run.update("approve", 1)).output, "InvalidOutput");
});

test("a changed update wait is the host's nondeterminism", async () => {
  const run = await new Harness().start(approvals);
  await run.update("approve", "alice");
  assert.throws(
    () => replay(run.history, (ctx) => ctx.waitForUpdate("accept").result()),
    (error) => error instanceof ReplayError && error.message.includes("[wait for update 'approve' (task 0)], but on replay it did [wait for update 'accept']"),
  );
});

test("a run that waits only for an update says to send it", async () => {
  const run = await new Harness().start((ctx) => ctx.waitForUpdate("approve").result());
  await assert.rejects(run.runToCompletion(), /the update\(s\) 'approve': send them with run.update/);
});

test("update validators accept by returning and refuse by throwing, as the host calls them", () => {
  updateValidator("sdk-test-amount", ({ orchestrator, customStatus }, amount) => {
    if (!(amount > 0)) throw new Failure("NotPositive", `${amount} is not positive`);
    if (customStatus?.closed) throw new Failure("Closed", `${orchestrator} is closed`);
  });
  updateValidator("sdk-test-returns", (check, value) => value);
  const refusal = (update, input, status) => {
    try {
      sdkExports.updateValidators.validate("acct", update, input, status);
      return undefined;
    } catch (failure) {
      return [failure.errorType, failure.message];
    }
  };
  assert.equal(refusal("sdk-test-amount", "5"), undefined);
  assert.deepEqual(refusal("sdk-test-amount", "0"), ["NotPositive", "0 is not positive"]);
  assert.deepEqual(refusal("sdk-test-amount", "5", '{"closed":true}'), ["Closed", "acct is closed"]);
  assert.equal(refusal("sdk-test-unchecked", "not even json"), undefined, "an update without a validator is accepted");
  assert.equal(refusal("sdk-test-amount", "{")[0], "InvalidInput");
  assert.equal(refusal("sdk-test-amount", "1", "{")[0], "InvalidState");
  const [type, message] = refusal("sdk-test-returns", "false");
  assert.equal(type, "InvalidOutput");
  assert.match(message, /refuses by throwing/);
  assert.throws(() => updateValidator("sdk-test-amount", () => {}), /at most one/);
});
