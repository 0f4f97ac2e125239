// Which simulated host answers the SDK's host calls right now. The modules of interfaces/
// stand in for `reprise:durable/orchestration@0.1.0` and the other imports of ../reprise.js
// when it runs under Node (hooks.mjs maps them), and forward every call to the binding the
// harness installed here for the function it runs; a call with none installed is an error that
// says so.

const current = { orchestration: undefined, "activity-context": undefined, "entity-context": undefined };

/** The binding that answers `iface` now. */
export function binding(iface) {
  const answer = current[iface];
  if (answer === undefined) {
    throw new Error(
      `reprise:durable/${iface} was called outside a function the test harness runs: ` +
        "run orchestrators with Harness.start or replay (guest-sdk/js/testing.js)",
    );
  }
  return answer;
}

/** Runs `body` with `answer` answering `iface`, and restores what answered before. */
export function withBinding(iface, answer, body) {
  const before = current[iface];
  current[iface] = answer;
  try {
    return body();
  } finally {
    current[iface] = before;
  }
}

/** Installs `answer` for `iface` until the returned function is called (for async code). */
export function hold(iface, answer) {
  const before = current[iface];
  current[iface] = answer;
  return () => {
    current[iface] = before;
  };
}
