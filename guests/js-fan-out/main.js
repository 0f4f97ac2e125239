// Seed 001's fan-out/fan-in in JavaScript, an activity other languages call, and a determinism
// probe.
//
// - `js_fan_out`: input `{"items": n}`. Schedules `js_process_item` for items 0..n-1 at once,
//   waits for all of them, and aggregates: output `{"processed", "failed", "total", "failures"}`.
//   Item i fails (error type `ItemRejected`) when i % 5 == 3; the others return i * 10.
// - `js_shout`: an activity that upper-cases its string input (called from the Python guest
//   `py-mixed-languages`).
// - `js_determinism_probe`: samples `Math.random()`, `Date.now()`, `crypto.getRandomValues` and
//   the context's clock and UUIDs, hands the sample to the Rust activity `echo` (so history
//   records it), and samples again after: on a cold replay, any value the host did not make
//   deterministic would differ from the recorded one.
// - `js_countdown`: input `{"n": n, "log": [...]}`; continues as new with n - 1 until n is 0,
//   then returns the log of the executions (one entry per execution, `n` and its time).
// - `js_first_or_timeout`: schedules `js_process_item` for its input and a 30-second timer, and
//   returns which came first: `{"winner": "activity" | "timer", "value"}`.
// - `js_chain`: `{"steps": n}`, n sequential calls of the Rust activity `noop` (guest `chain`),
//   the per-step overhead of a JavaScript orchestrator that the polyglot bench measures.
// - `js_entity_add_below`: `{"key", "amount"}`, in a critical section over the Python entity
//   `PyCounter` of that key: adds `amount` if the counter is below 100; output `{"before", "after"}`.
// - `js_retrying`: `{"failures": n}`, calls the activity `js_flaky` (whose attempts 1..n fail
//   with `NotYet`) under a retry policy of n + 1 attempts, 1 s first, each wait 1.2 times the
//   last; output `{"attempt"}`, the attempt that succeeded.
// - `js_approval`: `{"timeoutMs": t}`, waits for the event `Approval` against a timer of t ms;
//   output `{"approved": <the event's "by">}`, or `{"approved": false}` on timeout.
// - `js_parent`: runs `js_first_or_timeout` on its input as a sub-orchestration (under the
//   host's child id); output `{"child": <its output>}`.
// (The last three are the scenarios of the harness's agreement with the host that have
// retries, events, moving time and a sub-orchestration: host-agreement.mjs.)

import { EntityId, Failure, RetryPolicy, activity, exports, orchestrator } from "../../guest-sdk/js/reprise.js";

orchestrator("js_fan_out", (ctx, { items }) => {
  ctx.setCustomStatus(`fanning out ${items} items`);
  const tasks = [];
  for (let i = 0; i < items; i++) {
    tasks.push(ctx.scheduleActivity("js_process_item", i));
  }
  // One wait-all for the whole batch; a failed item does not fail the batch.
  const outcomes = ctx.taskAll(tasks, { settle: true });
  let total = 0;
  const failures = [];
  outcomes.forEach((outcome, i) => {
    if (outcome.ok) total += outcome.value;
    else failures.push(`item ${i}: ${outcome.error.cause?.message ?? outcome.error.message}`);
  });
  ctx.setCustomStatus("aggregated");
  return { processed: items - failures.length, failed: failures.length, total, failures };
});

activity("js_process_item", (ctx, item) => {
  if (item % 5 === 3) throw new Failure("ItemRejected", `item ${item} was rejected`);
  return item * 10;
});

activity("js_shout", (ctx, text) => `${String(text).toUpperCase()}!`);

function sample(ctx) {
  const bytes = new Uint32Array(2);
  crypto.getRandomValues(bytes);
  return {
    random: Math.random(),
    dateNow: Date.now(),
    randomValues: Array.from(bytes),
    contextTimeMs: ctx.currentTimeMs,
    guid: ctx.newGuid(),
  };
}

orchestrator("js_determinism_probe", (ctx) => {
  const before = sample(ctx);
  const recorded = ctx.callActivity("echo", before);
  const after = sample(ctx);
  return { before, recorded, after };
});

orchestrator("js_countdown", (ctx, { n, log = [] }) => {
  const entry = { n, at: ctx.currentTimeMs };
  if (n > 0) {
    ctx.continueAsNew({ n: n - 1, log: [...log, entry] });
    return null;
  }
  return [...log, entry];
});

orchestrator("js_first_or_timeout", (ctx, item) => {
  const work = ctx.scheduleActivity("js_process_item", item);
  const timer = ctx.createTimer(30_000);
  const winner = ctx.taskAny([work, timer]);
  if (winner === timer) return { winner: "timer", value: null };
  try {
    return { winner: "activity", value: work.result() };
  } catch (error) {
    return { winner: "activity", value: `${error.errorType}/${error.cause?.errorType}` };
  }
});

orchestrator("js_chain", (ctx, { steps }) => {
  let last = 0;
  for (let i = 0; i < steps; i++) last = ctx.callActivity("noop", i + 1);
  return { steps, last };
});

// A JavaScript orchestrator that uses a Python entity (`PyCounter`, guest `py-mixed-languages`)
// inside a critical section: reads it, and adds its input only if the value is below 100.
orchestrator("js_entity_add_below", (ctx, { key, amount }) => {
  const counter = new EntityId("PyCounter", key);
  const section = ctx.lock([counter]);
  const before = ctx.callEntity(counter, "get");
  const after = before < 100 ? ctx.callEntity(counter, "add", amount) : before;
  section.unlock();
  return { before, after };
});

orchestrator("js_retrying", (ctx, { failures }) => {
  const retry = new RetryPolicy({ maxAttempts: failures + 1, firstRetryIntervalMs: 1000, backoffCoefficient: 1.2 });
  return { attempt: ctx.callActivity("js_flaky", failures, { retry }) };
});

activity("js_flaky", (ctx, failures) => {
  if (ctx.attempt <= failures) throw new Failure("NotYet", `attempt ${ctx.attempt} fails`);
  return ctx.attempt;
});

orchestrator("js_approval", (ctx, { timeoutMs }) => {
  const approval = ctx.waitForExternalEvent("Approval");
  const timeout = ctx.createTimer(timeoutMs);
  const winner = ctx.taskAny([approval, timeout]);
  return winner === approval ? { approved: approval.result().by } : { approved: false };
});

orchestrator("js_parent", (ctx, item) => ({ child: ctx.callSubOrchestrator("js_first_or_timeout", item) }));

export const { orchestrators, activities, entities } = exports;
