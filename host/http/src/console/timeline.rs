//! The timeline of an execution: one lane per task (activity, timer, sub-orchestration, entity
//! call, event wait), a bar per attempt from its start to its end, the waits between retried
//! attempts, and the episodes; drawn as SVG.
//!
//! It owns the reading of a history into lanes and their drawing. Times are those the history
//! records: an event happens at its episode's start, so an attempt ends when the episode that
//! recorded its result began (within a commit of the real end). It never reads the store.

use maud::{Markup, PreEscaped, html};
use reprise_core::{Event, HistoryEvent, Timestamp};
use std::collections::{HashMap, VecDeque};

/// What a bar stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bar {
    /// An attempt that ended with a result.
    Completed,
    /// An attempt that failed (retried or for good).
    Failed,
    /// An attempt, or a wait, not over yet.
    Running,
    /// The wait the host scheduled before a retry.
    Wait,
}

impl Bar {
    fn class(self) -> &'static str {
        match self {
            Bar::Completed => "attempt completed",
            Bar::Failed => "attempt failed",
            Bar::Running => "attempt running",
            Bar::Wait => "wait",
        }
    }
}

/// One task's lane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lane {
    pub(crate) task_id: u64,
    /// `activity`, `timer`, `sub-orchestration`, `entity` or `event`.
    pub(crate) kind: &'static str,
    pub(crate) name: String,
    /// The child's instance id, for a sub-orchestration.
    pub(crate) child: Option<String>,
    /// `(from, to, what)`, in time order.
    pub(crate) bars: Vec<(Timestamp, Timestamp, Bar)>,
}

/// An execution's lanes and episodes, between its first and its last time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Timeline {
    pub(crate) start: Timestamp,
    pub(crate) end: Timestamp,
    pub(crate) lanes: Vec<Lane>,
    /// The start of each episode.
    pub(crate) episodes: Vec<Timestamp>,
}

/// The lanes as they are read, with the attempts not over yet.
#[derive(Default)]
struct Lanes {
    lanes: Vec<Lane>,
    by_task: HashMap<u64, usize>,
    /// Per lane: when its open attempt started, if one is open.
    open: HashMap<usize, Timestamp>,
}

impl Lanes {
    /// A new lane whose first attempt starts at `at`.
    fn add(
        &mut self,
        (task_id, kind): (u64, &'static str),
        name: String,
        child: Option<String>,
        at: Timestamp,
    ) -> usize {
        self.lanes.push(Lane { task_id, kind, name, child, bars: Vec::new() });
        let index = self.lanes.len() - 1;
        self.by_task.insert(task_id, index);
        self.open.insert(index, at);
        index
    }

    /// Ends the open attempt of lane `index` at `at`, as `bar`.
    fn close(&mut self, index: usize, at: Timestamp, bar: Bar) {
        if let Some(from) = self.open.remove(&index) {
            self.lanes[index].bars.push((from, at.max(from), bar));
        }
    }

    /// Ends the open attempt of `task_id`'s lane, if it has one.
    fn close_task(&mut self, task_id: u64, at: Timestamp, bar: Bar) {
        if let Some(&index) = self.by_task.get(&task_id) {
            self.close(index, at, bar);
        }
    }
}

/// Reads `events`; a bar still open ends at `until` (the instance's end, or now).
pub(crate) fn read(events: &[HistoryEvent], until: Timestamp) -> Timeline {
    let mut lanes = Lanes::default();
    let mut waits_by_name: HashMap<String, VecDeque<usize>> = HashMap::new();
    let mut update_waits: HashMap<String, VecDeque<usize>> = HashMap::new();
    let mut episodes = Vec::new();
    let mut now: Option<Timestamp> = None;
    for event in events {
        if let Event::EpisodeStarted { time } = event.event {
            now = Some(time);
            episodes.push(time);
            continue;
        }
        let Some(t) = now else { continue };
        match &event.event {
            Event::ActivityScheduled { task_id, name, .. } => {
                lanes.add((*task_id, "activity"), name.clone(), None, t);
            }
            Event::SubOrchestrationScheduled { task_id, name, instance_id, .. } => {
                lanes.add((*task_id, "sub-orchestration"), name.clone(), Some(instance_id.to_string()), t);
            }
            Event::TimerScheduled { task_id, fire_at } => {
                lanes.add((*task_id, "timer"), format!("timer until {}", clock(*fire_at)), None, t);
            }
            Event::EventWaitStarted { task_id, name } => {
                let index = lanes.add((*task_id, "event"), format!("event {name}"), None, t);
                waits_by_name.entry(name.clone()).or_default().push_back(index);
            }
            Event::UpdateWaitStarted { task_id, name } => {
                let index = lanes.add((*task_id, "update"), format!("update {name}"), None, t);
                update_waits.entry(name.clone()).or_default().push_back(index);
            }
            Event::EntityCalled { task_id, entity, operation, .. } => {
                lanes.add((*task_id, "entity"), format!("{entity} {operation}"), None, t);
            }
            Event::EntityLockRequested { task_id, entities } => {
                let names: Vec<String> = entities.iter().map(ToString::to_string).collect();
                lanes.add((*task_id, "entity"), format!("lock {}", names.join(", ")), None, t);
            }
            Event::ActivityRetrying { task_id, next_attempt_at, .. }
            | Event::SubOrchestrationRetrying { task_id, next_attempt_at, .. } => {
                if let Some(&index) = lanes.by_task.get(task_id) {
                    lanes.close(index, t, Bar::Failed);
                    let next = (*next_attempt_at).max(t);
                    lanes.lanes[index].bars.push((t, next, Bar::Wait));
                    lanes.open.insert(index, next);
                }
            }
            Event::ActivityCompleted { task_id, .. }
            | Event::SubOrchestrationCompleted { task_id, .. }
            | Event::EntityCompleted { task_id, .. }
            | Event::TimerFired { task_id } => lanes.close_task(*task_id, t, Bar::Completed),
            Event::ActivityFailed { task_id, .. }
            | Event::SubOrchestrationFailed { task_id, .. }
            | Event::EntityFailed { task_id, .. } => lanes.close_task(*task_id, t, Bar::Failed),
            Event::EventRaised { name, .. } => {
                if let Some(index) = waits_by_name.get_mut(name).and_then(VecDeque::pop_front) {
                    lanes.close(index, t, Bar::Completed);
                }
            }
            Event::UpdateReceived { name, .. } => {
                if let Some(index) = update_waits.get_mut(name).and_then(VecDeque::pop_front) {
                    lanes.close(index, t, Bar::Completed);
                }
            }
            _ => {}
        }
    }
    let start = episodes.first().copied().unwrap_or(until);
    let end = until.max(episodes.last().copied().unwrap_or(start));
    let Lanes { mut lanes, open, .. } = lanes;
    for (index, from) in open {
        lanes[index].bars.push((from, end.max(from), Bar::Running));
    }
    for lane in &mut lanes {
        lane.bars.sort_by_key(|&(from, to, _)| (from, to));
    }
    let end = lanes.iter().flat_map(|l| l.bars.iter().map(|b| b.1)).fold(end, Timestamp::max);
    Timeline { start, end, lanes, episodes }
}

/// `12:00:03.250`: a time of day, UTC, to the millisecond.
fn clock(at: Timestamp) -> String {
    let rendered = reprise_core::history_text::render_time(at);
    rendered.split('T').nth(1).map_or(rendered.clone(), |time| time.trim_end_matches('Z').to_string())
}

/// A duration in the unit that reads best.
pub(crate) fn duration(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms} ms"),
        1_000..60_000 => format!("{:.2} s", ms as f64 / 1e3),
        60_000..3_600_000 => format!("{:.1} min", ms as f64 / 6e4),
        _ => format!("{:.1} h", ms as f64 / 3.6e6),
    }
}

/// The height of a lane, in SVG units (and CSS pixels: the labels' rows match it).
const ROW: u64 = 24;
/// The narrowest a bar is drawn, so that an attempt shorter than a pixel still shows.
const MIN_BAR: f64 = 2.0;
/// The width the time axis is drawn at; the page scales it (zoom).
const WIDTH: f64 = 1000.0;

impl Timeline {
    /// The lanes' labels (HTML, beside the picture) and the picture (SVG), row for row.
    pub(crate) fn render(&self, instance_link: impl Fn(&str) -> String) -> Markup {
        let span = self.end.saturating_sub(self.start).max(1) as f64;
        let x = |t: Timestamp| t.saturating_sub(self.start) as f64 / span * WIDTH;
        let height = (self.lanes.len() as u64).max(1) * ROW;
        html! {
            div.timeline {
                ol.lane-labels aria-label="tasks" {
                    @for lane in &self.lanes {
                        li data-kind=(lane.kind) title=(lane.name) {
                            span.kind { (lane.kind) } " "
                            span.task { "#" (lane.task_id) } " "
                            @match &lane.child {
                                Some(child) => a.child href=(instance_link(child)) { (lane.name) },
                                None => span { (lane.name) },
                            }
                            @let attempts = lane.bars.iter().filter(|b| b.2 != Bar::Wait).count();
                            @if attempts > 1 { " " span.attempts { "×" (attempts) } }
                        }
                    }
                }
                div.picture tabindex="0" aria-label="timeline; + and - zoom, 0 fits" {
                    svg #timeline xmlns="http://www.w3.org/2000/svg" viewBox=(format!("0 0 {WIDTH} {height}"))
                        preserveAspectRatio="none" height=(height) role="img"
                        data-start=(self.start) data-end=(self.end) {
                        @for (row, lane) in self.lanes.iter().enumerate() {
                            g.lane data-task-id=(lane.task_id) data-kind=(lane.kind) data-name=(lane.name) {
                                @for &(from, to, bar) in &lane.bars {
                                    @let (x0, x1) = (x(from), x(to));
                                    rect class=(bar.class()) x=(format!("{x0:.2}")) y=(row as u64 * ROW + 4)
                                        width=(format!("{:.2}", (x1 - x0).max(MIN_BAR))) height=(ROW - 8) {
                                        title {
                                            (lane.name) ": "
                                            (match bar { Bar::Wait => "retry wait", Bar::Completed => "completed", Bar::Failed => "failed", Bar::Running => "not finished" })
                                            ", " (clock(from)) " to " (clock(to)) " (" (duration(to - from)) ")"
                                        }
                                    }
                                }
                            }
                        }
                        @for &at in &self.episodes {
                            @let at = format!("{:.2}", x(at));
                            line.episode x1=(at) x2=(at) y1="0" y2=(height) {}
                        }
                    }
                }
            }
            p.axis {
                (clock(self.start)) " → " (clock(self.end)) " UTC · " (duration(self.end - self.start))
                " · " (self.lanes.len()) " tasks · " (self.episodes.len()) " episodes"
                (PreEscaped(" · <kbd>+</kbd> <kbd>−</kbd> zoom, <kbd>0</kbd> fits"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reprise_core::{Failure, Payload};

    fn events(list: Vec<Event>) -> Vec<HistoryEvent> {
        list.into_iter().enumerate().map(|(seq, event)| HistoryEvent { seq: seq as u64, event }).collect()
    }

    fn scheduled(task_id: u64, name: &str) -> Event {
        Event::ActivityScheduled { task_id, name: name.into(), input: Payload::null(), options: Default::default() }
    }

    #[test]
    fn a_retried_activity_has_an_attempt_per_try_and_the_waits_between() {
        let failure = Failure::new("TransientFailure", "no");
        let history = events(vec![
            Event::EpisodeStarted { time: 1_000 },
            scheduled(0, "flaky"),
            Event::EpisodeStarted { time: 1_200 },
            Event::ActivityRetrying { task_id: 0, attempt: 1, failure: failure.clone(), next_attempt_at: 2_200 },
            Event::EpisodeStarted { time: 2_300 },
            Event::ActivityRetrying { task_id: 0, attempt: 2, failure, next_attempt_at: 4_300 },
            Event::EpisodeStarted { time: 4_400 },
            Event::ActivityCompleted { task_id: 0, output: Payload::null() },
        ]);
        let timeline = read(&history, 4_400);
        assert_eq!(timeline.lanes.len(), 1);
        let bars: Vec<Bar> = timeline.lanes[0].bars.iter().map(|b| b.2).collect();
        assert_eq!(bars, [Bar::Failed, Bar::Wait, Bar::Failed, Bar::Wait, Bar::Completed]);
        assert_eq!(timeline.lanes[0].bars[2], (2_200, 2_300, Bar::Failed), "the second try starts when due");
        assert_eq!((timeline.start, timeline.end, timeline.episodes.len()), (1_000, 4_400, 4));
    }

    #[test]
    fn waits_for_events_end_with_the_event_of_their_name_and_open_bars_run_to_the_end() {
        let history = events(vec![
            Event::EpisodeStarted { time: 0 },
            Event::EventWaitStarted { task_id: 0, name: "Approval".into() },
            Event::TimerScheduled { task_id: 1, fire_at: 90_000 },
            Event::EpisodeStarted { time: 5_000 },
            Event::EventRaised { name: "Approval".into(), data: Payload::null() },
        ]);
        let timeline = read(&history, 7_000);
        assert_eq!(timeline.lanes[0].bars, [(0, 5_000, Bar::Completed)]);
        assert_eq!(timeline.lanes[1].bars, [(0, 7_000, Bar::Running)]);
        assert_eq!(timeline.lanes[1].kind, "timer");
    }

    #[test]
    fn the_picture_has_a_rect_per_bar_and_a_line_per_episode() {
        let history = events(vec![
            Event::EpisodeStarted { time: 0 },
            scheduled(0, "a"),
            scheduled(1, "b"),
            Event::EpisodeStarted { time: 10 },
            Event::ActivityCompleted { task_id: 1, output: Payload::null() },
            Event::ActivityFailed { task_id: 0, failure: Failure::new("X", "y") },
        ]);
        let svg = read(&history, 10).render(|id| format!("/instances/{id}")).into_string();
        assert_eq!(svg.matches("<rect").count(), 2, "{svg}");
        assert_eq!(svg.matches("class=\"attempt failed\"").count(), 1);
        assert_eq!(svg.matches("<line class=\"episode\"").count(), 2);
        assert!(svg.contains("data-name=\"a\""));
    }

    #[test]
    fn durations_read_in_their_unit() {
        assert_eq!(duration(250), "250 ms");
        assert_eq!(duration(2_500), "2.50 s");
        assert_eq!(duration(90_000), "1.5 min");
        assert_eq!(duration(7_200_000), "2.0 h");
    }
}
