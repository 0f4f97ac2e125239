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
// - `js_account`: the Rust guest `updates`' `account` in JavaScript. Input `{"limit": n}`;
//   publishes the custom status `{"balance": b, "open": true}` and takes `deposit` updates (a
//   positive integer) one at a time, each answered with the new balance after the activity
//   `js_audit` (input `{"amount", "balance"}`, output `"audited <amount>"`) has run; a deposit of
//   13 is answered with the failure `Unlucky` and the instance goes on. `close` (any input) is
//   answered with the balance and ends the instance with `{"balance", "deposits"}`, as does the
//   balance reaching the limit. The validator of `deposit` refuses an amount that is not a
//   positive integer (`NotPositive`) and any deposit once the custom status says the account is
//   closed (`Closed`).
// (js_retrying, js_approval, js_parent and js_account are the scenarios of the harness's
// agreement with the host that have retries, events, moving time, a sub-orchestration and
// updates: host-agreement.mjs.)

import { EntityId, Failure, RetryPolicy, activity, exports, orchestrator, updateValidator } from "../../guest-sdk/js/reprise.js";

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

orchestrator("js_account", (ctx, { limit }) => {
  let balance = 0;
  let deposits = 0;
  ctx.setCustomStatus({ balance, open: true });
  // One wait per name at a time; the one that loses the race stays pending for the next update.
  let deposit = ctx.waitForUpdate("deposit");
  const close = ctx.waitForUpdate("close");
  for (;;) {
    if (ctx.taskAny([deposit, close]) === close) {
      ctx.replyUpdate(close.result(), balance);
      ctx.setCustomStatus({ balance, open: false });
      return { balance, deposits };
    }
    const update = deposit.result();
    deposit = ctx.waitForUpdate("deposit");
    if (update.input === 13) {
      ctx.replyUpdate(update, null, { failure: new Failure("Unlucky", "13 is not taken here") });
      continue;
    }
    ctx.callActivity("js_audit", { amount: update.input, balance });
    balance += update.input;
    deposits += 1;
    ctx.replyUpdate(update, balance);
    const open = balance < limit;
    ctx.setCustomStatus({ balance, open });
    if (!open) return { balance, deposits };
  }
});

activity("js_audit", (ctx, { amount }) => `audited ${amount}`);

updateValidator("deposit", ({ customStatus }, amount) => {
  if (!Number.isSafeInteger(amount) || amount <= 0) throw new Failure("NotPositive", `deposit a positive whole amount, not ${JSON.stringify(amount)}`);
  if (customStatus !== undefined && customStatus.open === false) throw new Failure("Closed", "the account takes no more deposits");
});

export const { orchestrators, activities, entities, updateValidators } = exports;
