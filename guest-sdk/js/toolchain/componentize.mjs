// Builds one JavaScript guest component with componentize-js, called as a library (its command
// line fails on this project's WIT package). Run by the guest builder (xtask/src/polyglot.rs):
//
//   node componentize.mjs <toolchain dir> <main module> <wit dir> <world> <output .wasm>
//
// Run it from the project root: componentize-js maps the working directory into the
// component's build-time file system, so a guest's main module can import the SDK at
// `../../guest-sdk/js/reprise.js`.

import { writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";

const [toolchainDir, sourcePath, witPath, worldName, output] = process.argv.slice(2);
if (output === undefined) {
  console.error("usage: node componentize.mjs <toolchain dir> <main module> <wit dir> <world> <output .wasm>");
  process.exit(2);
}

const library = join(resolve(toolchainDir), "node_modules", "@bytecodealliance", "componentize-js", "src", "componentize.js");
const { componentize } = await import(pathToFileURL(library).href);

const { component } = await componentize({
  sourcePath: resolve(sourcePath),
  witPath: resolve(witPath),
  worldName,
  // `http` stays on, so that `fetch` works in activities: every component imports the outgoing
  // handler of wasi:http, which the host links for every kind of guest and answers only for
  // activities. `fetch-event` is off: a guest exports no incoming handler.
  disableFeatures: ["fetch-event"],
});
await writeFile(output, component);
