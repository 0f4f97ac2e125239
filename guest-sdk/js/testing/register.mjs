// Registers hooks.mjs, so that a test of a guest can import the guest's main module and
// ../reprise.js under Node: `node --import ./guest-sdk/js/testing/register.mjs --test ...`.

import { register } from "node:module";

register("./hooks.mjs", import.meta.url);
