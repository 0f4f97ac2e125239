// Node module hooks for testing guests outside wasm (registered by register.mjs):
//
// - `reprise:durable/<interface>@0.1.0`, which componentize-js resolves at build time, resolves
//   to the module of interfaces/ that forwards the interface to the test harness;
// - a `.js` file outside any package that declares its type is an ES module, as componentize-js
//   reads every guest source (Node would take it for CommonJS). Files of packages that declare
//   a type, and of node_modules, load as Node decides.

import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const PACKAGE = "reprise:durable/";
const VERSION = "0.1.0";
const INTERFACES = new Set(["orchestration", "activity-context", "entity-context"]);

/**
 * Node's `resolve` hook: a `reprise:durable/<interface>@0.1.0` specifier resolves to the stand-in
 * module interfaces/<interface>.js; an interface or version the harness has no stand-in for is
 * an error that lists those it has; any other specifier resolves as Node decides.
 */
export async function resolve(specifier, context, nextResolve) {
  if (!specifier.startsWith(PACKAGE)) return nextResolve(specifier, context);
  const [iface, version] = specifier.slice(PACKAGE.length).split("@");
  if (!INTERFACES.has(iface) || version !== VERSION) {
    throw new Error(
      `the test harness has no stand-in for ${specifier}: it answers ${[...INTERFACES].map((i) => `${PACKAGE}${i}@${VERSION}`).join(", ")}`,
    );
  }
  return { url: new URL(`./interfaces/${iface}.js`, import.meta.url).href, format: "module", shortCircuit: true };
}

/** Whether the nearest package.json above `file` declares a module type (or there is a node_modules). */
function declaresType(file) {
  let dir = dirname(file);
  for (;;) {
    if (dir.split(/[\\/]/).includes("node_modules")) return true;
    try {
      const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
      return typeof manifest.type === "string";
    } catch {
      // No readable package.json here: look further up.
    }
    const parent = dirname(dir);
    if (parent === dir) return false;
    dir = parent;
  }
}

/**
 * Node's `load` hook: a `.js` file outside any package that declares a module type (and outside
 * node_modules) loads as an ES module, as componentize-js reads it; everything else loads as
 * Node decides.
 */
export async function load(url, context, nextLoad) {
  if (url.startsWith("file:") && url.endsWith(".js") && !declaresType(fileURLToPath(url))) {
    return nextLoad(url, { ...context, format: "module" });
  }
  return nextLoad(url, context);
}
