// HTTP from a JavaScript activity, with the standard `fetch`: the host sends the request through
// `wasi:http` if one of the activity's grants allows it.
//
// - `fetch`: input `{"method": "GET", "url": "...", "headers": {...}, "body": "text"}` (`headers`
//   and `body` optional, `method` GET by default); output `{"status": 200, "headers":
//   {"lower-case-name": "value"}, "body": "<text>"}`, whatever the status. A request that gets no
//   response (a network error, or the host's denial) fails the activity with the error type
//   `HttpError` and the error's text as its message.
// - `call`: input `{"activity": "...", "input": any}`; calls that activity (exported by any
//   loaded component) with that input and returns its output.

import { Failure, activity, exports, orchestrator } from "../../guest-sdk/js/reprise.js";

activity("fetch", async (ctx, { method = "GET", url, headers = {}, body } = {}) => {
  if (typeof url !== "string") throw new Failure("InvalidInput", "fetch needs a `url` string");
  try {
    const response = await fetch(url, { method, headers, body });
    // Inside the try: a body that breaks off fails the activity as an HttpError too.
    const text = await response.text();
    return { status: response.status, headers: Object.fromEntries(response.headers), body: text };
  } catch (error) {
    throw new Failure("HttpError", String(error?.message ?? error).trim());
  }
});

orchestrator("call", (ctx, { activity: name, input = null }) => ctx.callActivity(name, input));

export const { orchestrators, activities, entities, updateValidators } = exports;
