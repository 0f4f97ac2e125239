//! Versioning under the SDK's test harness: the new path for new instances, the old one for a
//! history written before the change.

use reprise_sdk::testing::{Harness, Recorded, replay};

use super::*;

const GOLDEN_NEW: &str = include_str!("../../../tests/golden/onboarding-v3.golden-version.reprise");
const GOLDEN_UPGRADED: &str = include_str!("../../../tests/golden/onboarding-v3.golden-upgraded.reprise");

fn harness() -> Harness {
    Harness::new().component(reprise_sdk::component!())
}

#[test]
fn a_new_instance_sends_the_kit() {
    let mut run = harness().start(onboard, &"ada");
    run.raise_event("approved", &"grace").raise_event("activated", &true);
    assert_eq!(run.output::<Vec<String>>().unwrap(), ["account:ada", "grace", "kit:ada"]);
    assert!(run.commands().contains(&"choose version 1 of change 'welcome-kit'".to_string()), "{:?}", run.commands());
}

#[test]
fn a_history_from_before_the_change_replays_on_the_old_path() {
    let replayed = replay(GOLDEN_UPGRADED, onboard).expect("an upgraded version-1 history replays");
    assert!(replayed.commands.iter().any(|c| c.contains("send_welcome'")), "{:?}", replayed.commands);
}

#[test]
fn the_harness_decides_as_the_host_did() {
    replay(GOLDEN_NEW, onboard).expect("the code replays the host's history");
    let recorded = Recorded::parse(GOLDEN_NEW).unwrap();
    harness().rerun(&recorded).assert_same_commands(&recorded);
}
