// The harness against the host, on this guest: tests/all/sdk_testing_js.rs runs the scenarios
// on the real host, writes what it recorded to the directory REPRISE_HOST_RUNS (each
// instance's export bundle and its children's, its `reprise history --json`, and
// `scenarios.json`: the scenario, when it started, how it was moved on, how the host ended it,
// and its commands in the host's own words), and runs this file. For each scenario, (a) the
// host's histories replay on this code with `replay`, and (b) the harness, running the scenario
// fresh from the same start time and moved on the same way (an event raised once it waits, or
// time moved to each retry and timer), records the same histories: event for event where the
// host's are deterministic, else the same commands, the same result per task and the same end.
//
// Not a `*.test.mjs`: without the host's runs it has nothing to check, so it is not picked up
// by `node --test guests/js-fan-out/`.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Harness, replay } from "../../guest-sdk/js/testing.js";
import { describeCommand } from "../../guest-sdk/js/testing/replayer.js";
import "./main.js";

const dir = process.env.REPRISE_HOST_RUNS;
if (dir === undefined) {
  throw new Error("REPRISE_HOST_RUNS is not set: this file checks the host's runs, which tests/all/sdk_testing_js.rs writes");
}
const scenarios = JSON.parse(readFileSync(join(dir, "scenarios.json"), "utf8"));
assert.ok(scenarios.length > 0, "the host ran no scenario");

/** Events as both must record them: all of each, but the component's hash, which the harness has not. */
function wholly(events) {
  return events.map((event) => {
    if (event.type !== "ExecutionStarted") return event;
    const { component, ...started } = event;
    return started;
  });
}

/** What two runs whose deliveries the host groups its own way agree on, per execution: every command, each task's result, the end. */
function normalized(executions) {
  return executions.map(({ events }) => {
    const commands = [];
    const results = {};
    for (const { seq, ...event } of events) {
      if (describeCommand(event) !== undefined) commands.push(event);
      if (event.type.endsWith("Completed") || event.type.endsWith("Failed")) {
        if (event.task_id !== undefined) results[event.task_id] = event;
      }
    }
    return { commands, results };
  });
}

/** The value of a payload (JSON text), or null for none, as scenarios.json writes it. */
const value = (payload) => (payload === undefined || payload === null ? null : JSON.parse(payload));

for (const scenario of scenarios) {
  const bundle = readFileSync(join(dir, `${scenario.id}.reprise`), "utf8");
  const hostExecutions = JSON.parse(bundle).executions;
  const children = scenario.children.map((child) => {
    const text = readFileSync(join(dir, child.bundle), "utf8");
    return { ...child, text, parsed: JSON.parse(text) };
  });

  test(`${scenario.id}: the host's history replays on this code`, () => {
    const replayed = replay(bundle, scenario.orchestrator);
    assert.equal(replayed.status, scenario.status);
    assert.deepEqual(replayed.output, scenario.output);
    // The host reports no custom status as null, the harness as undefined.
    assert.deepEqual(replayed.customStatus ?? null, scenario.custom_status);
    assert.deepEqual(replayed.commands, scenario.commands.at(-1));
    // `reprise history --json` of the same instance: payloads embedded, times as RFC 3339.
    const cli = readFileSync(join(dir, `${scenario.id}.history.json`), "utf8");
    const fromCli = replay(cli, scenario.orchestrator, { instanceId: scenario.id, execution: hostExecutions.at(-1).execution });
    assert.deepEqual(fromCli, replayed);
    for (const child of children) {
      const { instance } = child.parsed;
      const replayedChild = replay(child.text, instance.name);
      assert.equal(replayedChild.status, instance.status, child.id);
      assert.deepEqual(replayedChild.output ?? null, value(instance.output), child.id);
      assert.deepEqual(replayedChild.commands, child.commands.at(-1), child.id);
    }
  });

  test(`${scenario.id}: the harness decides as the host did`, async () => {
    const run = await new Harness().instanceId(scenario.id).startTime(scenario.started_at).start(scenario.orchestrator, scenario.input);
    if (scenario.then === "approve") await run.raiseEvent(scenario.event.name, scenario.event.data);
    if (scenario.then === "deposits") for (const { name, input } of scenario.updates) assert.ok((await run.update(name, input)).answered, name);
    // Finishes at once but for "move-time", which skips to each retry and timer, as the host's clock was moved.
    await run.runToCompletion();
    assert.equal(run.status, scenario.status);
    assert.deepEqual(run.output, scenario.output);
    assert.deepEqual(run.customStatus ?? null, scenario.custom_status);
    // The host's words for its commands, from its own code (reprise_core's Command).
    assert.deepEqual(run.commands, scenario.commands.flat());
    if (scenario.whole) {
      assert.deepEqual(run.executions.map((e) => e.execution), hostExecutions.map((e) => e.execution));
      run.executions.forEach(({ events }, i) => assert.deepEqual(wholly(events), wholly(hostExecutions[i].events), `execution ${i + 1}`));
    }
    else assert.deepEqual(normalized(run.executions), normalized(hostExecutions));
    for (const child of children) {
      const ran = run.instance(child.id);
      assert.equal(ran.status, child.parsed.instance.status, child.id);
      assert.deepEqual(wholly(ran.history), wholly(child.parsed.executions.at(-1).events), child.id);
    }
  });
}
