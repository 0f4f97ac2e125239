// Tests of this guest's orchestrators with the SDK's test harness, under Node (no wasm, no
// host). Run from the project root:
//
//   node --import ./guest-sdk/js/testing/register.mjs --test guests/js-fan-out/
//
// The component build reads main.js only: this file is not part of the component.

import { test } from "node:test";
import assert from "node:assert/strict";
import { Failure } from "../../guest-sdk/js/reprise.js";
import { Harness, UnsupportedError, replay } from "../../guest-sdk/js/testing.js";
import { updateValidators } from "./main.js";

test("js_fan_out aggregates every item, the rejected ones as failures", async () => {
  // No mock: the guest's own js_process_item runs, as on the host.
  const run = await new Harness().start("js_fan_out", { items: 20 });
  assert.equal(run.status, "Completed");
  assert.deepEqual(run.output, {
    processed: 16,
    failed: 4,
    total: 10 * (190 - (3 + 8 + 13 + 18)),
    failures: [3, 8, 13, 18].map((i) => `item ${i}: item ${i} was rejected`),
  });
  assert.equal(run.customStatus, "aggregated");
  assert.deepEqual(run.commands, [...Array(20).fill("schedule activity 'js_process_item'"), "complete the orchestration"]);
  assert.deepEqual(run.activityCalls.map((c) => c.input), [...Array(20).keys()]);
});

test("js_fan_out reports the status it fans out with while the items run", async () => {
  const statuses = [];
  const run = await new Harness()
    .activity("js_process_item", (ctx, item) => {
      statuses.push(item);
      if (item === 1) throw new Failure("Boom", "no second item");
      return 1;
    })
    .start("js_fan_out", { items: 3 });
  assert.deepEqual(statuses, [0, 1, 2]);
  assert.deepEqual(run.output, { processed: 2, failed: 1, total: 2, failures: ["item 1: no second item"] });
  // The first episode set it before it waited: the history's first episode is the fan-out.
  const first = replay(run.history.slice(0, 2 + 3), "js_fan_out");
  assert.equal(first.customStatus, "fanning out 3 items");
  assert.equal(first.status, "Running");
});

test("js_first_or_timeout returns the activity's failure when it comes before the timer", async () => {
  const run = await new Harness().start("js_first_or_timeout", 3);
  assert.deepEqual(run.output, { winner: "activity", value: "ActivityFailed/ItemRejected" });
  assert.deepEqual(run.commands, ["schedule activity 'js_process_item'", "schedule a timer", "complete the orchestration"]);
});

test("js_countdown continues as new down to 0, each execution at its own time", async () => {
  const run = await new Harness().startTime(new Date("2024-01-01T00:00:00Z")).start("js_countdown", { n: 3 });
  const at = Date.parse("2024-01-01T00:00:00Z");
  assert.deepEqual(run.output, [3, 2, 1, 0].map((n) => ({ n, at })));
  assert.equal(run.executions.length, 4);
  assert.deepEqual(run.commands, [...Array(3).fill("continue as new"), "complete the orchestration"]);
});

test("js_shout, the activity the Python guest calls, upper-cases its input", async () => {
  const run = await new Harness().start((ctx) => ctx.callActivity("js_shout", "durable"));
  assert.equal(run.output, "DURABLE!");
});

test("js_entity_add_below uses an entity, which the harness refuses by name", async () => {
  await assert.rejects(new Harness().start("js_entity_add_below", { key: "k", amount: 1 }), (error) => {
    return error instanceof UnsupportedError && error.message.includes("lock([@PyCounter@k])");
  });
});

test("a history of js_fan_out replays on this code, and not on a changed one", async () => {
  const run = await new Harness().start("js_fan_out", { items: 4 });
  assert.equal(replay(run.history, "js_fan_out").status, "Completed");
  // Only the first item: the same first command (inputs may change), then an early end.
  const first = (ctx) => {
    ctx.scheduleActivity("js_process_item", -1);
    return null;
  };
  assert.throws(
    () => replay(run.history, first),
    /^ReplayError: nondeterminism at history position 3: the history records that the orchestrator did \[schedule activity 'js_process_item' \(task 1\)\], but on replay it did \[complete the orchestration\]/,
  );
});

test("js_retrying retries js_flaky with waits growing 1.2 times, as the host computes them", async () => {
  const run = await new Harness().start("js_retrying", { failures: 4 });
  await run.runToCompletion();
  assert.deepEqual(run.output, { attempt: 5 });
  const retries = run.history.filter((e) => e.type === "ActivityRetrying");
  const t0 = run.history[0].time;
  // 1000, 1200, 1440, then 1728 (the host's powi; 1.2 ** 3 would give 1727).
  assert.deepEqual(retries.map((e) => e.next_attempt_at - t0), [1000, 2200, 3640, 5368]);
});

test("js_approval takes the approval raised before its timeout, and gives up at the timeout", async () => {
  const approved = await new Harness().start("js_approval", { timeoutMs: 60_000 });
  await approved.advance(59_999);
  await approved.raiseEvent("Approval", { by: "alice" });
  assert.deepEqual(approved.output, { approved: "alice" });
  const late = await new Harness().start("js_approval", { timeoutMs: 60_000 });
  await late.runToCompletion();
  assert.deepEqual(late.output, { approved: false });
});

test("js_parent runs js_first_or_timeout as its child, under the host's child id", async () => {
  const run = await new Harness().instanceId("p").start("js_parent", 2);
  assert.deepEqual(run.output, { child: { winner: "activity", value: 20 } });
  assert.equal(run.instance("p:1:0").status, "Completed");
});

test("js_account answers each deposit with the balance after its audit, and 13 with a failure", async () => {
  const run = await new Harness().start("js_account", { limit: 100 });
  assert.deepEqual(run.customStatus, { balance: 0, open: true });
  assert.deepEqual(await run.update("deposit", 5), { id: "update-1", answered: true, output: 5, failure: undefined });
  assert.equal((await run.update("deposit", 7)).output, 12);
  const unlucky = await run.update("deposit", 13);
  assert.equal(unlucky.failure.error_type, "Unlucky");
  assert.equal(run.status, "Running");
  assert.equal((await run.update("close", null)).output, 12);
  assert.equal(run.status, "Completed");
  assert.deepEqual(run.output, { balance: 12, deposits: 2 });
  assert.deepEqual(run.activityCalls[0].input, { amount: 5, balance: 0 });
  assert.deepEqual(
    run.history.filter((e) => e.type === "UpdateReplied").map((e) => e.update_id),
    ["update-1", "update-2", "update-3", "update-4"],
  );
  // What the harness recorded replays through the host's rules.
  assert.deepEqual(replay(run.history, "js_account").commands, run.commands);
});

test("js_account closes once the balance reaches the limit", async () => {
  const run = await new Harness().start("js_account", { limit: 10 });
  await run.update("deposit", 4);
  assert.equal((await run.update("deposit", 6)).output, 10);
  assert.deepEqual(run.output, { balance: 10, deposits: 2 });
  assert.deepEqual(run.customStatus, { balance: 10, open: false });
});

test("the deposit validator refuses amounts that are not positive integers, and deposits to a closed account", () => {
  const refusal = (amount, status) => {
    try {
      updateValidators.validate("js_account", "deposit", JSON.stringify(amount), status === undefined ? undefined : JSON.stringify(status));
      return undefined;
    } catch (failure) {
      return failure.errorType;
    }
  };
  assert.equal(refusal(5, { balance: 0, open: true }), undefined);
  for (const amount of [0, -3, 2.5, "ten", true, null]) assert.equal(refusal(amount), "NotPositive", JSON.stringify(amount));
  assert.equal(refusal(1, { balance: 100, open: false }), "Closed");
});
