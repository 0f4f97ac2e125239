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

import { Failure, activity, exports, orchestrator } from "../../guest-sdk/js/reprise.js";

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

export const { orchestrators, activities } = exports;
