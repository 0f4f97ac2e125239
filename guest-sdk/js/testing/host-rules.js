// Rules of the host that the test harness (../testing.js) applies as the host does, ported from
// its Rust: the retry policy's backoff (host/core/src/retry.rs), the name-based UUIDs of
// `newGuid` (host/core/src/replay/replayer.rs) and the rules of instance ids
// (host/core/src/instance_id.rs). Internal to the harness: its tests import them, tests of
// orchestrators need not.

import { createHash } from "node:crypto";

/** The namespace of the host's name-based UUIDs (`GUID_NAMESPACE` of replayer.rs). */
export const GUID_NAMESPACE = Buffer.from([
  0x6b, 0x1e, 0x0c, 0x52, 0x8e, 0x1f, 0x4c, 0x3d, 0x9a, 0x57, 0x2f, 0x10, 0x9d, 0x44, 0x7e, 0x21,
]);

/** A name-based (version 5) UUID, as the host's `uuid::Uuid::new_v5`. */
export function uuidV5(namespace, name) {
  const bytes = createHash("sha1").update(namespace).update(name, "utf8").digest().subarray(0, 16);
  bytes[6] = (bytes[6] & 0x0f) | 0x50;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = bytes.toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The largest u64, as the host saturates delays to it. */
const U64_MAX = 18_446_744_073_709_551_615;

/**
 * `f64::powi` as the host computes it at run time: compiler-rt's `__powidf2`, exponentiation by
 * squaring with a rounding at each product. It differs from `**` in the last bits (1.2 ** 3 is
 * 1.7279999999999998, powi(1.2, 3) is 1.728), which a delay's rounding down can show.
 */
export function powi(base, exponent) {
  const reciprocal = exponent < 0;
  let b = Math.abs(exponent);
  let a = base;
  let r = 1;
  for (;;) {
    if (b & 1) r *= a;
    b = Math.trunc(b / 2);
    if (b === 0) break;
    a *= a;
  }
  return reciprocal ? 1 / r : r;
}

/** Rust's `f64::min`: the other operand when one is NaN (`Math.min` gives NaN). */
function f64Min(a, b) {
  if (Number.isNaN(a)) return b;
  if (Number.isNaN(b)) return a;
  return Math.min(a, b);
}

/**
 * `RetryPolicy::delay_after` of host/core/src/retry.rs, operation for operation: `first as f64 *
 * coefficient.powi(exponent)`, capped by `f64::min` with the maximum interval, then saturated
 * to u64 (a NaN or an infinity saturates too, as `u64::MAX`).
 */
export function delayAfter(policy, attempt) {
  const exponent = Math.min(Math.max(attempt - 1, 0), 1024);
  const delay = policy.first_retry_interval_ms * powi(policy.backoff_coefficient, exponent);
  const capped = policy.max_retry_interval_ms === undefined ? delay : f64Min(delay, policy.max_retry_interval_ms);
  return Number.isFinite(capped) ? Math.floor(f64Min(capped, U64_MAX)) : U64_MAX;
}

/** `RetryPolicy::next_attempt`: when to run the attempt after `attempt`, or undefined. */
export function nextAttempt(policy, attempt, failure, firstStarted, now) {
  const types = [failure.error_type, ...(failure.causes ?? []).map((cause) => cause.error_type)];
  const nonRetryable = (policy.non_retryable_errors ?? []).some((kind) => types.includes(kind));
  if (attempt >= policy.max_attempts || nonRetryable) return undefined;
  const next = Math.min(now + delayAfter(policy, attempt), U64_MAX);
  if (policy.retry_timeout_ms !== undefined && next - firstStarted > policy.retry_timeout_ms) return undefined;
  return next;
}

/** `InstanceId::MAX_LEN`: the longest instance id the host accepts, in bytes (UTF-8). */
const MAX_INSTANCE_ID_LEN = 1024;

/**
 * Why the host refuses `id` as an instance id (the message of its `InstanceIdError`), or
 * undefined: the rules of `InstanceId::new`, checked in its order (empty, the entity prefix `@`,
 * the length in UTF-8 bytes, control characters).
 */
export function instanceIdError(id) {
  if (id.length === 0) return "an instance id cannot be empty";
  if (id.startsWith("@")) return `invalid instance id '${id}': ids that start with '@' are reserved for entities`;
  const len = Buffer.byteLength(id, "utf8");
  if (len > MAX_INSTANCE_ID_LEN) {
    const prefix = [...id].slice(0, 40).join("");
    return `invalid instance id '${prefix}...': it is ${len} bytes long, more than the limit of ${MAX_INSTANCE_ID_LEN}`;
  }
  if (/\p{Cc}/u.test(id)) return `invalid instance id ${rustDebug(id)}: it holds a control character`;
  return undefined;
}

/** Characters Rust's `{:?}` of a string writes as `\u{...}`: grapheme extenders, and what its `is_printable` refuses. */
const UNPRINTABLE = /^(?:\p{Grapheme_Extend}|[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}])$/u;

/** A string as Rust's `Debug` writes it: quoted, with `\0 \t \r \n \\ \"` and `\u{hex}` escapes. */
export function rustDebug(text) {
  const short = { "\0": "\\0", "\t": "\\t", "\r": "\\r", "\n": "\\n", "\\": "\\\\", '"': '\\"' };
  let out = '"';
  for (let char of text) {
    const code = char.codePointAt(0);
    // A lone surrogate reaches the host as U+FFFD (strings cross the component boundary as UTF-8).
    if (code >= 0xd800 && code <= 0xdfff) char = "\ufffd";
    if (char in short) out += short[char];
    else if (char !== " " && UNPRINTABLE.test(char)) out += `\\u{${code.toString(16)}}`;
    else out += char;
  }
  return `${out}"`;
}
