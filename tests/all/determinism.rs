//! Clocks, random numbers and hash maps inside an orchestrator give the same values on every
//! replay.

use crate::harness::{Compare, T0, on_both_paths, output};
use reprise_tests::guests;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_random_and_hash_map_order_are_identical_across_replays() {
    // The cold run replays the first half of the orchestrator (before the activity) from history
    // and samples everything again: any value the host did not make deterministic would differ
    // between the two runs.
    let (record, _) =
        on_both_paths(&[guests::DETERMINISM], "probe-1", "determinism_probe", json!({"n": 1}), Compare::Exact).await;
    let out = output(&record);
    for half in ["before", "after"] {
        // The wall clock reads the episode's logical time, as recorded in history.
        assert_eq!(out[half]["system_time_ms"], json!(T0), "{half}: {out}");
        assert_eq!(out[half]["context_time_ms"], json!(T0), "{half}: {out}");
    }
    assert_ne!(out["before"]["random_u64"], out["after"]["random_u64"], "random numbers still vary within a run");
    assert_ne!(out["before"]["guid"], out["after"]["guid"]);
    assert_eq!(out["echoed"], json!({"n": 1}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn different_instances_draw_different_random_numbers() {
    let (a, _) =
        on_both_paths(&[guests::DETERMINISM], "probe-a", "determinism_probe", json!(null), Compare::Exact).await;
    let (b, _) =
        on_both_paths(&[guests::DETERMINISM], "probe-b", "determinism_probe", json!(null), Compare::Exact).await;
    assert_ne!(output(&a)["before"]["random_u64"], output(&b)["before"]["random_u64"]);
    assert_ne!(output(&a)["before"]["guid"], output(&b)["before"]["guid"]);
}
