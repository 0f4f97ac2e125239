// The harness against the host, on this guest: tests/all/sdk_testing_js.rs runs the scenarios
// on the real host, writes what it recorded to the directory REPRISE_HOST_RUNS (each
// instance's export bundle, its `reprise history --json`, and `scenarios.json`: the scenario and
// how the host ended it), and runs this file. For each scenario, (a) the host's history replays
// on this code with `replay`, and (b) the harness, running the scenario fresh, issues the same
// commands, gets the same results per task and ends the same way.
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

/** What the two must agree on, per execution: every command, each task's result, the end. */
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

const commandsOf = (executions) => executions.flatMap(({ events }) => events.map(describeCommand).filter((c) => c !== undefined));

for (const scenario of scenarios) {
  const bundle = readFileSync(join(dir, `${scenario.id}.reprise`), "utf8");
  const hostExecutions = JSON.parse(bundle).executions;

  test(`${scenario.id}: the host's history replays on this code`, () => {
    const replayed = replay(bundle, scenario.orchestrator);
    assert.equal(replayed.status, scenario.status);
    assert.deepEqual(replayed.output, scenario.output);
    // The host reports no custom status as null, the harness as undefined.
    assert.deepEqual(replayed.customStatus ?? null, scenario.custom_status);
    assert.deepEqual(replayed.commands, commandsOf(hostExecutions.slice(-1)));
    // `reprise history --json` of the same instance: payloads embedded, times as RFC 3339.
    const cli = readFileSync(join(dir, `${scenario.id}.history.json`), "utf8");
    const fromCli = replay(cli, scenario.orchestrator, { instanceId: scenario.id, execution: hostExecutions.at(-1).execution });
    assert.deepEqual(fromCli, replayed);
  });

  test(`${scenario.id}: the harness decides as the host did`, async () => {
    const run = await new Harness().instanceId(scenario.id).start(scenario.orchestrator, scenario.input);
    await run.runToCompletion();
    assert.equal(run.status, scenario.status);
    assert.deepEqual(run.output, scenario.output);
    assert.deepEqual(run.customStatus ?? null, scenario.custom_status);
    assert.deepEqual(run.commands, commandsOf(hostExecutions));
    assert.deepEqual(normalized(run.executions), normalized(hostExecutions));
  });
}
