//! Seed 004's fan-out/fan-in under the SDK's test harness, and the race under every order.

use reprise_sdk::testing::{Harness, Recorded, replay};

use super::*;

const GOLDEN_FAN_OUT: &str = include_str!("../../../tests/golden/fan-out.golden-fan-out.reprise");
const GOLDEN_RACE: &str = include_str!("../../../tests/golden/fan-out.golden-race.reprise");

fn harness() -> Harness {
    Harness::new().component(reprise_sdk::component!())
}

#[test]
fn every_item_is_processed_and_the_rejected_ones_reported() {
    let run = harness().start(fan_out_fan_in, &Batch { items: 10 });
    let result = run.output::<BatchResult>().unwrap();
    assert_eq!((result.processed, result.failed), (8, 2));
    assert_eq!(result.total, (0..10).filter(|i| i % 5 != 3).map(|i| i * 10).sum::<u64>());
    assert_eq!(result.failures, ["item 3: item 3 was rejected", "item 8: item 8 was rejected"]);
    assert_eq!(run.custom_status::<String>().as_deref(), Some("10 items scheduled"));
}

#[test]
fn the_aggregate_is_the_same_whatever_order_the_results_arrive_in() {
    let found = harness().explore(fan_out_fan_in, &Batch { items: 4 }).check(|run| {
        let result = run.output::<BatchResult>().unwrap();
        assert_eq!((result.processed, result.failed, result.total), (3, 1, 30));
    });
    found.assert_all_pass();
    assert!(found.exhaustive);
    assert_eq!(found.runs, 24);
}

#[test]
fn the_race_is_won_by_whichever_item_ends_first() {
    let found = harness().explore(first_of, &Some(vec![1, 2, 4])).check(|run| {
        let race = run.output::<Race>().unwrap();
        assert_eq!(race.value, [10, 20, 40][race.winner]);
    });
    found.assert_all_pass();
    // Each of the three may end first; what ends after is not waited for.
    assert!(found.runs >= 3, "{found:?}");
}

#[test]
fn the_harness_decides_as_the_host_did() {
    replay(GOLDEN_FAN_OUT, fan_out_fan_in).expect("the code replays the host's history");
    replay(GOLDEN_RACE, first_of).expect("the code replays the host's history");
    for golden in [GOLDEN_FAN_OUT, GOLDEN_RACE] {
        let recorded = Recorded::parse(golden).unwrap();
        harness().rerun(&recorded).assert_same_commands(&recorded);
    }
}
