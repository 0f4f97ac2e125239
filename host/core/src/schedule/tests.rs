use super::*;
use chrono::{TimeZone as _, Utc};

fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Timestamp {
    Utc.with_ymd_and_hms(y, mo, d, h, mi, s).unwrap().timestamp_millis() as Timestamp
}

fn cron(expression: &str, timezone: &str) -> ScheduleSpec {
    ScheduleSpec {
        orchestrator: "o".into(),
        input: Payload::null(),
        trigger: Trigger::Cron { expression: expression.into(), timezone: timezone.into() },
        overlap: Overlap::Skip,
        catch_up_ms: DEFAULT_CATCH_UP_MS,
        start_at: None,
        end_at: None,
    }
}

fn every(interval_ms: u64, overlap: Overlap) -> ScheduleSpec {
    ScheduleSpec { trigger: Trigger::Every { interval_ms }, overlap, ..cron("* * * * *", "UTC") }
}

#[test]
fn six_fields_have_seconds_and_five_fields_fire_at_second_zero() {
    let six = cron("0 */5 * * * *", "UTC").validate().unwrap();
    let start = utc(2026, 12, 7, 10, 3, 17);
    assert_eq!(
        six.upcoming(start, 3),
        [utc(2026, 12, 7, 10, 5, 0), utc(2026, 12, 7, 10, 10, 0), utc(2026, 12, 7, 10, 15, 0)]
    );
    let five = cron("*/5 * * * *", "UTC").validate().unwrap();
    assert_eq!(five.upcoming(start, 3), six.upcoming(start, 3));
    let seconds = cron("*/20 * * * * *", "UTC").validate().unwrap();
    assert_eq!(seconds.upcoming(start, 2), [utc(2026, 12, 7, 10, 3, 20), utc(2026, 12, 7, 10, 3, 40)]);
}

#[test]
fn a_slot_is_strictly_after_the_time_asked() {
    let slots = cron("0 */5 * * * *", "UTC").validate().unwrap();
    let slot = utc(2026, 12, 7, 10, 5, 0);
    assert_eq!(slots.next_after(slot - 1), Some(slot));
    assert_eq!(slots.next_after(slot), Some(utc(2026, 12, 7, 10, 10, 0)));
    assert_eq!(slots.next_after(slot + 500), Some(utc(2026, 12, 7, 10, 10, 0)));
}

#[test]
fn a_cron_reads_the_wall_clock_of_its_time_zone() {
    // 09:00 in Paris is 08:00 UTC in winter, 07:00 UTC in summer.
    let slots = cron("0 0 9 * * *", "Europe/Paris").validate().unwrap();
    assert_eq!(slots.next_after(utc(2026, 12, 7, 0, 0, 0)), Some(utc(2026, 12, 7, 8, 0, 0)));
    assert_eq!(slots.next_after(utc(2026, 7, 7, 0, 0, 0)), Some(utc(2026, 7, 7, 7, 0, 0)));
    assert_eq!(slots.local_text(utc(2026, 12, 7, 8, 0, 0)), "2026-12-07 09:00:00 CET");
}

#[test]
fn a_daily_time_in_the_spring_gap_fires_once_at_the_end_of_the_gap() {
    // Paris, 28 March 2027: 02:00 CET becomes 03:00 CEST, so 02:30 does not exist that night.
    let slots = cron("0 30 2 * * *", "Europe/Paris").validate().unwrap();
    let fires = slots.upcoming(utc(2027, 3, 26, 12, 0, 0), 3);
    assert_eq!(
        fires,
        [
            utc(2027, 3, 27, 1, 30, 0), // 02:30 CET
            utc(2027, 3, 28, 1, 0, 0),  // 03:00 CEST, the first instant after the gap
            utc(2027, 3, 29, 0, 30, 0), // 02:30 CEST
        ]
    );
}

#[test]
fn a_daily_time_in_the_autumn_overlap_fires_once_at_its_first_occurrence() {
    // Paris, 31 October 2027: 03:00 CEST becomes 02:00 CET, so 02:30 happens twice that night.
    let slots = cron("0 30 2 * * *", "Europe/Paris").validate().unwrap();
    let fires = slots.upcoming(utc(2027, 10, 30, 12, 0, 0), 2);
    assert_eq!(
        fires,
        [
            utc(2027, 10, 31, 0, 30, 0), // 02:30 CEST, the first pass
            utc(2027, 11, 1, 1, 30, 0),  // 02:30 CET, the next day: not 01:30 UTC on the 31st
        ]
    );
}

#[test]
fn bad_expressions_and_unknown_zones_are_refused_with_what_to_write() {
    let error = cron("0 */5 * *", "UTC").validate().unwrap_err();
    assert!(matches!(error, ScheduleError::Cron { .. }), "{error}");
    assert!(error.to_string().contains("6 fields"), "{error}");
    assert!(matches!(cron("61 * * * * *", "UTC").validate(), Err(ScheduleError::Cron { .. })));
    let zone = cron("0 * * * * *", "Europe/Atlantis").validate().unwrap_err();
    assert_eq!(zone, ScheduleError::Timezone("Europe/Atlantis".into()));
    assert!(zone.to_string().contains("IANA"));
    // February 30th: refused by the parser or found to never fire, either way with its words.
    let never = cron("0 0 0 30 2 *", "UTC").validate().unwrap_err();
    assert!(matches!(never, ScheduleError::NeverFires(_) | ScheduleError::Cron { .. }), "{never}");
    assert_eq!(every(500, Overlap::Skip).validate().unwrap_err(), ScheduleError::Interval(500));
}

#[test]
fn intervals_fire_at_multiples_since_the_epoch_within_the_bounds() {
    let spec = ScheduleSpec {
        start_at: Some(utc(2026, 12, 7, 10, 0, 10)),
        end_at: Some(utc(2026, 12, 7, 10, 2, 0)),
        ..every(30_000, Overlap::Skip)
    };
    let slots = spec.validate().unwrap();
    let all = slots.upcoming(0, 10);
    assert_eq!(all.first(), Some(&utc(2026, 12, 7, 10, 0, 30)), "nothing before the start");
    assert_eq!(all.last(), Some(&utc(2026, 12, 7, 10, 1, 30)), "nothing at or after the end");
    assert_eq!(all.len(), 3);
    let bounded = ScheduleSpec { end_at: Some(1), start_at: Some(2), ..every(30_000, Overlap::Skip) };
    assert_eq!(bounded.validate().unwrap_err(), ScheduleError::Bounds);
}

#[test]
fn between_lists_a_half_open_range_and_refuses_a_huge_one() {
    let slots = every(60_000, Overlap::Skip).validate().unwrap();
    let from = utc(2026, 12, 7, 10, 0, 0);
    assert_eq!(slots.between(from, from + 180_000).unwrap(), [from, from + 60_000, from + 120_000]);
    let seconds = every(1_000, Overlap::Skip).validate().unwrap();
    assert_eq!(seconds.between(from, from + 86_400_000), None);
}

#[test]
fn instance_ids_name_the_schedule_and_the_slot() {
    let name = ScheduleName::new("nightly-report").unwrap();
    assert_eq!(
        slot_instance_id(&name, utc(2026, 12, 7, 10, 5, 0)).unwrap().as_str(),
        "nightly-report@2026-12-07T10:05:00Z"
    );
    assert_eq!(
        slot_instance_id(&name, utc(2026, 12, 7, 10, 5, 0) + 250).unwrap().as_str(),
        "nightly-report@2026-12-07T10:05:00.250Z"
    );
    assert_eq!(manual_instance_id(&name, 3).unwrap().as_str(), "nightly-report@manual-3");
    for bad in ["", "a b", "x@y", "über", &"n".repeat(MAX_NAME_LEN + 1)] {
        assert!(ScheduleName::new(bad).is_err(), "{bad:?}");
    }
}

fn progress(cursor: Timestamp, previous_unfinished: bool) -> Progress {
    Progress { cursor, buffered: None, previous_unfinished }
}

const MIN: u64 = 60_000;

#[test]
fn a_due_slot_starts_and_the_cursor_moves_past_it() {
    let spec = every(MIN, Overlap::Skip);
    let slots = spec.validate().unwrap();
    let t = 100 * MIN;
    let none = plan(&spec, &slots, &progress(t, false), t + MIN - 1);
    assert!(none.is_empty(&progress(t, false)), "{none:?}");
    let due = plan(&spec, &slots, &progress(t, false), t + MIN);
    assert_eq!(due.actions, [Action::Start { slot: t + MIN, terminate_previous: false }]);
    assert_eq!(due.cursor, t + MIN);
    let again = plan(&spec, &slots, &progress(due.cursor, true), t + MIN + 5);
    assert!(again.actions.is_empty(), "a slot is planned once");
}

#[test]
fn each_overlap_policy_decides_a_slot_whose_previous_run_is_unfinished() {
    let t = 100 * MIN;
    let slot = t + MIN;
    let cases = [
        (Overlap::Skip, Action::Skip { slot }, None),
        (Overlap::BufferOne, Action::Buffer { slot }, Some(slot)),
        (Overlap::Allow, Action::Start { slot, terminate_previous: false }, None),
        (Overlap::TerminatePrevious, Action::Start { slot, terminate_previous: true }, None),
    ];
    for (overlap, expected, buffered) in cases {
        let spec = every(MIN, overlap);
        let slots = spec.validate().unwrap();
        let planned = plan(&spec, &slots, &progress(t, true), slot);
        assert_eq!(planned.actions, [expected], "{overlap}");
        assert_eq!(planned.buffered, buffered, "{overlap}");
        let finished = plan(&spec, &slots, &progress(t, false), slot);
        assert_eq!(finished.actions, [Action::Start { slot, terminate_previous: false }], "{overlap}: nothing runs");
    }
}

#[test]
fn buffer_one_keeps_one_slot_and_starts_it_once_the_previous_run_ends() {
    let spec = ScheduleSpec { catch_up_ms: 10 * MIN, ..every(MIN, Overlap::BufferOne) };
    let slots = spec.validate().unwrap();
    let t = 100 * MIN;
    let planned = plan(&spec, &slots, &progress(t, true), t + 3 * MIN);
    assert_eq!(
        planned.actions,
        [Action::Buffer { slot: t + MIN }, Action::Skip { slot: t + 2 * MIN }, Action::Skip { slot: t + 3 * MIN }]
    );
    let waiting = Progress { cursor: planned.cursor, buffered: planned.buffered, previous_unfinished: true };
    assert!(plan(&spec, &slots, &waiting, t + 3 * MIN + 1).actions.is_empty(), "it waits while the run runs");
    let ended = Progress { previous_unfinished: false, ..waiting };
    let started = plan(&spec, &slots, &ended, t + 3 * MIN + 1);
    assert_eq!(started.actions, [Action::Start { slot: t + MIN, terminate_previous: false }]);
    assert_eq!(started.buffered, None);
}

#[test]
fn catch_up_fires_the_slots_in_the_window_and_counts_the_older_ones_as_missed() {
    let spec = ScheduleSpec { catch_up_ms: 2 * MIN + 1, ..every(MIN, Overlap::Allow) };
    let slots = spec.validate().unwrap();
    let t = 100 * MIN;
    // Down from t to t + 10 min: slots t+1..t+10; the window keeps t+8, t+9, t+10.
    let planned = plan(&spec, &slots, &progress(t, false), t + 10 * MIN);
    let missed: Vec<_> = (1..=7).map(|k| Action::Missed { slot: t + k * MIN }).collect();
    let started: Vec<_> = (8..=10).map(|k| Action::Start { slot: t + k * MIN, terminate_previous: false }).collect();
    assert_eq!(planned.actions, [missed, started].concat());
    assert_eq!(planned.missed, 7);
    assert_eq!(planned.cursor, t + 10 * MIN);
    // Under `skip`, the first caught-up run is the previous run of the next slots.
    let skip = ScheduleSpec { overlap: Overlap::Skip, ..spec };
    let planned = plan(&skip, &slots, &progress(t, false), t + 10 * MIN);
    assert_eq!(
        planned.actions[7..],
        [
            Action::Start { slot: t + 8 * MIN, terminate_previous: false },
            Action::Skip { slot: t + 9 * MIN },
            Action::Skip { slot: t + 10 * MIN }
        ]
    );
}

#[test]
fn a_long_outage_is_planned_in_bounded_steps() {
    let spec = every(1_000, Overlap::Allow);
    let slots = spec.validate().unwrap();
    let t = 1_000_000_000;
    // A year down, on a per-second schedule.
    let now = t + 365 * 86_400_000;
    let planned = plan(&spec, &slots, &progress(t, false), now);
    assert_eq!(planned.missed, MAX_MISSED_COUNTED);
    assert_eq!(planned.actions.iter().filter(|a| matches!(a, Action::Missed { .. })).count(), MAX_MISSED_RECORDED);
    // The window holds 60 slots (catch-up 1 min, one a second): all start.
    let started = planned.actions.iter().filter(|a| matches!(a, Action::Start { .. })).count();
    assert_eq!(started, 61, "the slots of [now - 1 min, now]");
    assert!(!planned.more);
    assert_eq!(planned.cursor, now);
}

#[test]
fn a_busy_window_is_planned_in_several_plans() {
    let spec = ScheduleSpec { catch_up_ms: 3_600_000, ..every(1_000, Overlap::Skip) };
    let slots = spec.validate().unwrap();
    let t = 1_000_000_000;
    let first = plan(&spec, &slots, &progress(t, false), t + 3_000_000);
    assert!(first.more);
    assert_eq!(first.actions.len(), MAX_ACTIONS);
    let second = plan(&spec, &slots, &progress(first.cursor, true), t + 3_000_000);
    assert_eq!(second.actions.first(), Some(&Action::Skip { slot: first.cursor + 1_000 }));
}

#[test]
fn specs_round_trip_through_json() {
    let spec = ScheduleSpec { overlap: Overlap::TerminatePrevious, start_at: Some(5), ..cron("0 * * * * *", "UTC") };
    let text = serde_json::to_string(&spec).unwrap();
    assert!(text.contains("\"overlap\":\"terminate-previous\""), "{text}");
    assert_eq!(serde_json::from_str::<ScheduleSpec>(&text).unwrap(), spec);
    for overlap in Overlap::ALL {
        assert_eq!(overlap.as_str().parse::<Overlap>().unwrap(), overlap);
    }
    assert!("sometimes".parse::<Overlap>().is_err());
}

#[test]
fn parts_become_a_spec_or_say_what_is_wrong() {
    let parts = ScheduleParts {
        orchestrator: "o".into(),
        cron: Some("0 30 2 * * *".into()),
        timezone: Some("Europe/Paris".into()),
        overlap: Some("buffer-one".into()),
        catch_up: Some("1h".into()),
        start_at: Some("2026-12-07T11:00:00+01:00".into()),
        ..ScheduleParts::default()
    };
    let spec = parts.clone().spec().unwrap();
    assert_eq!(
        (spec.overlap, spec.catch_up_ms, spec.start_at),
        (Overlap::BufferOne, 3_600_000, Some(utc(2026, 12, 7, 10, 0, 0)))
    );
    assert_eq!(spec.input, Payload::null());
    let both = ScheduleParts { every: Some("30s".into()), ..parts.clone() };
    assert_eq!(both.spec().unwrap_err(), ScheduleError::Trigger);
    let neither = ScheduleParts { cron: None, ..parts.clone() };
    assert_eq!(neither.spec().unwrap_err(), ScheduleError::Trigger);
    let zoned_interval = ScheduleParts { cron: None, every: Some("30s".into()), ..parts.clone() };
    assert_eq!(zoned_interval.spec().unwrap_err(), ScheduleError::TimezoneWithInterval);
    let interval = ScheduleParts { cron: None, timezone: None, every: Some("30s".into()), ..parts.clone() };
    assert_eq!(interval.spec().unwrap().trigger, Trigger::Every { interval_ms: 30_000 });
    let bad_time = ScheduleParts { end_at: Some("tomorrow".into()), ..parts.clone() };
    assert_eq!(bad_time.spec().unwrap_err(), ScheduleError::Time("tomorrow".into()));
    let bad_window = ScheduleParts { catch_up: Some("a while".into()), ..parts };
    assert_eq!(bad_window.spec().unwrap_err(), ScheduleError::Duration("a while".into()));
}
