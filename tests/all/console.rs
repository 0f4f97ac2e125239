//! The web console in a real headless Chromium (see `browser.rs`): the real router served on a
//! loopback port over a real host, pages loaded, clicked and filled as an operator would, and
//! what they show checked against what the test made the host do.
//!
//! The pages render and refresh on their own (their script fetches the API), so every check
//! waits, bounded by [`WAIT`], for its condition to hold; no sleep stands in for one.

use crate::browser::Browser;
use crate::harness::{Harness, T0};
use fantoccini::{Client, Locator};
use reprise_core::schedule::{Overlap, ScheduleName, ScheduleSpec, Trigger};
use reprise_core::{Event, Payload, RuntimeStatus};
use reprise_http::ApiConfig;
use reprise_tests::guests;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// How long a page may take to show what it should.
const WAIT: Duration = Duration::from_secs(30);

/// A test host, its console on a loopback port, and a browser.
struct Console {
    harness: Harness,
    base: String,
    browser: Browser,
}

impl Console {
    async fn new(components: &[&str]) -> Self {
        // The browser first: if it has to be installed, no host waits meanwhile.
        let browser = Browser::new().await;
        let harness = Harness::new(1024, components).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("bound address"));
        let router = reprise_http::router(harness.host.clone(), ApiConfig::default());
        tokio::spawn(reprise_http::serve(listener, router, std::future::pending()));
        Console { harness, base, browser }
    }

    fn client(&self) -> &Client {
        &self.browser.client
    }

    /// Loads the console's page at `path`.
    async fn open(&self, path: &str) {
        let url = format!("{}{path}", self.base);
        self.client().goto(&url).await.unwrap_or_else(|e| panic!("load {url}: {e}"));
    }

    async fn close(self) {
        self.browser.close().await;
        self.harness.stop().await;
    }
}

/// Polls `probe` every 100 ms until it gives a value, for at most [`WAIT`]; then fails with
/// `what` and the probe's last answer.
async fn until<T>(what: &str, mut probe: impl AsyncFnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(last) if Instant::now() >= deadline => panic!("{what}: not within {WAIT:?}; last: {last}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The trimmed text of the element `css` matches.
async fn text(client: &Client, css: &str) -> Result<String, String> {
    let element = client.find(Locator::Css(css)).await.map_err(|e| format!("no {css}: {e}"))?;
    Ok(element.text().await.map_err(|e| format!("text of {css}: {e}"))?.trim().to_string())
}

/// How many elements `css` matches.
async fn count(client: &Client, css: &str) -> Result<usize, String> {
    Ok(client.find_all(Locator::Css(css)).await.map_err(|e| format!("find {css}: {e}"))?.len())
}

/// Waits until the element `css` says `expected`.
async fn wait_text(client: &Client, css: &str, expected: &str) {
    until(&format!("{css} says {expected:?}"), async || {
        let actual = text(client, css).await?;
        if actual == expected { Ok(()) } else { Err(format!("{css} says {actual:?}")) }
    })
    .await
}

/// Waits until `css` matches exactly `expected` elements.
async fn wait_count(client: &Client, css: &str, expected: usize) {
    until(&format!("{expected} of {css}"), async || {
        let actual = count(client, css).await?;
        if actual == expected { Ok(()) } else { Err(format!("{actual} of {css}")) }
    })
    .await
}

/// Waits until the instance waits for an event (its status is Running from then on).
async fn until_waiting(harness: &Harness, id: &str) {
    harness.until_history(id, |h| h.iter().any(|e| matches!(e.event, Event::EventWaitStarted { .. }))).await;
}

/// The input of a `run_job` that waits (without a clock that moves, forever) for `JobCompleted`.
fn waiting_job() -> Value {
    json!({"job": "build", "timeout_ms": 30000, "max_retries": 0})
}

#[tokio::test(flavor = "multi_thread")]
async fn the_list_shows_the_instances_newest_first_with_their_status_and_counts() {
    let console = Console::new(&[guests::RETRY_PATTERN, guests::CALLBACK_WITH_TIMEOUT]).await;
    let harness = &console.harness;
    // One of each status, a second apart on the host's clock, so that "newest first" is one
    // order (instances created in the same millisecond could come in either).
    let completed = harness.run("list-completed", "retry_orchestrator", json!({"input": "a"})).await;
    assert_eq!(completed.status, RuntimeStatus::Completed);
    harness.clock.set(T0 + 1000);
    let failed = harness
        .run("list-failed", "retry_orchestrator", json!({"input": "b", "fail_times": 5, "max_attempts": 1}))
        .await;
    assert_eq!(failed.status, RuntimeStatus::Failed, "{:?}", failed.output);
    harness.clock.set(T0 + 2000);
    harness.start("list-waiting", "run_job", waiting_job()).await;
    until_waiting(harness, "list-waiting").await;

    console.open("/").await;
    let client = console.client();
    let newest_first = ["list-waiting", "list-failed", "list-completed"];
    let rows = "table#instances tr[data-instance-id]";
    let shown = until("the list shows the three instances", async || {
        let mut ids = Vec::new();
        for row in client.find_all(Locator::Css(rows)).await.map_err(|e| e.to_string())? {
            ids.push(row.attr("data-instance-id").await.map_err(|e| e.to_string())?.unwrap_or_default());
        }
        if ids.len() == newest_first.len() { Ok(ids) } else { Err(format!("rows {ids:?}")) }
    })
    .await;
    assert_eq!(shown, newest_first, "the rows are the test's instances, newest first");

    for (id, status) in [("list-waiting", "Running"), ("list-failed", "Failed"), ("list-completed", "Completed")] {
        wait_text(client, &format!(r#"tr[data-instance-id="{id}"] td.status"#), status).await;
        let link = client
            .find(Locator::Css(&format!(r#"tr[data-instance-id="{id}"] td:first-child a.instance-link"#)))
            .await
            .unwrap_or_else(|e| panic!("{id}'s row has no link in its first cell: {e}"));
        let href = link.attr("href").await.expect("href").unwrap_or_default();
        // Unreserved characters stay as they are in the link.
        assert_eq!(href, format!("/instances/{id}"), "{id}'s link is {href:?}");
    }
    for status in ["Running", "Failed", "Completed"] {
        wait_text(client, &format!(r#"#counts [data-status="{status}"] .count"#), "1").await;
    }
    console.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn clicking_an_instance_shows_its_timeline_with_every_attempt_and_retry_wait() {
    let console = Console::new(&[guests::RETRY_PATTERN]).await;
    let harness = &console.harness;
    let input = json!({"input": "demo", "fail_times": 2, "max_attempts": 3, "first_retry_ms": 1000});
    harness.start("retried", "retry_orchestrator", input).await;
    // The retries wait on the manual clock: moved to each retry's time as it is recorded.
    let record = harness.finished_moving_time("retried").await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{:?}", record.failure);
    let history = harness.history("retried").await;
    let retries = history.iter().filter(|e| matches!(e.event, Event::ActivityRetrying { .. })).count();
    assert_eq!(retries, 2, "the host recorded two failed attempts before the third succeeded");

    console.open("/").await;
    let client = console.client();
    let link = client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(r#"tr[data-instance-id="retried"] a.instance-link"#))
        .await
        .expect("the list links the instance");
    link.click().await.expect("click the instance's link");
    until("the instance's page opens", async || {
        let url = client.current_url().await.map_err(|e| e.to_string())?;
        if url.path() == "/instances/retried" { Ok(()) } else { Err(url.to_string()) }
    })
    .await;

    wait_text(client, "#status", "Completed").await;
    client.wait().at_most(WAIT).for_element(Locator::Css("svg#timeline")).await.expect("the timeline");
    // One task, so one lane: the activity, with each attempt and the waits between them.
    wait_count(client, "svg#timeline g.lane", 1).await;
    let lane = r#"svg#timeline g.lane[data-kind="activity"][data-name="flaky_activity"]"#;
    wait_count(client, lane, 1).await;
    wait_count(client, &format!("{lane} rect.attempt"), 3).await;
    wait_count(client, &format!("{lane} rect.attempt.failed"), 2).await;
    wait_count(client, &format!("{lane} rect.attempt.completed"), 1).await;
    wait_count(client, &format!("{lane} rect.wait"), 2).await;
    let episodes = count(client, "svg#timeline line.episode").await.expect("episode marks");
    assert!(episodes >= 1, "the timeline marks the episodes");
    // Rows with cells: a header row, if any, is not an event.
    wait_count(client, "table#history tr:has(td)", history.len()).await;
    console.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn raising_an_event_from_the_page_completes_the_waiting_instance() {
    let console = Console::new(&[guests::CALLBACK_WITH_TIMEOUT]).await;
    let harness = &console.harness;
    // An id with a space and a slash: the page's URL and its API calls must encode it.
    let id = "job 1/a";
    harness.start(id, "run_job", waiting_job()).await;
    until_waiting(harness, id).await;

    console.open("/instances/job%201%2Fa").await;
    let client = console.client();
    wait_text(client, "#status", "Running").await;
    let form = client.wait().at_most(WAIT).for_element(Locator::Css("form#raise-event")).await.expect("the form");
    let event = form.find(Locator::Css(r#"input[name="event"]"#)).await.expect("the event field");
    event.clear().await.expect("clear the event field");
    event.send_keys("JobCompleted").await.expect("type the event name");
    let data = form.find(Locator::Css(r#"textarea[name="data"]"#)).await.expect("the data field");
    data.clear().await.expect("clear the data field");
    data.send_keys(r#"{"ok": true}"#).await.expect("type the data");
    form.find(Locator::Css(r#"button[type="submit"]"#))
        .await
        .expect("the submit button")
        .click()
        .await
        .expect("submit");

    // The page asks first; nothing is sent until the operator agrees.
    let question =
        until("the page asks for confirmation", async || client.get_alert_text().await.map_err(|e| e.to_string()))
            .await;
    assert!(!question.is_empty(), "the confirmation says what it will do");
    client.accept_alert().await.expect("accept the confirmation");

    // The API accepts a raised event with 202, and the page shows that answer.
    let shown = until("the page shows the API's answer", async || {
        let result = client.find(Locator::Css("#action-result")).await.map_err(|e| e.to_string())?;
        match result.attr("data-status").await.map_err(|e| e.to_string())? {
            Some(status) if !status.is_empty() => Ok((status, result.text().await.map_err(|e| e.to_string())?)),
            other => Err(format!("data-status {other:?}")),
        }
    })
    .await;
    assert_eq!(shown.0, "202", "the API's answer: {}", shown.1);
    assert!(shown.1.contains("202"), "#action-result shows the HTTP status: {:?}", shown.1);

    let record = harness.finished(id).await;
    assert_eq!(record.status, RuntimeStatus::Completed, "{:?}", record.failure);
    let output: Value = serde_json::from_str(record.output.as_deref().expect("output")).expect("JSON output");
    assert_eq!(output, json!({"status": "completed", "attempts": 1, "result": {"ok": true}}));

    client.refresh().await.expect("reload the page");
    wait_text(client, "#status", "Completed").await;
    console.close().await;
}

/// Clicks `button` of the row of the schedule `name` and accepts the confirmation it asks for.
async fn click_schedule_button(client: &Client, name: &str, action: &str) {
    let css = format!(r#"tr[data-schedule="{name}"] button[data-schedule-action="{action}"]"#);
    let button = client.wait().at_most(WAIT).for_element(Locator::Css(&css)).await.expect("the button");
    button.click().await.expect("click the button");
    until("the page asks for confirmation", async || client.get_alert_text().await.map_err(|e| e.to_string())).await;
    client.accept_alert().await.expect("accept the confirmation");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_schedules_page_shows_next_fires_and_pauses_and_runs_a_schedule_from_its_buttons() {
    let console = Console::new(&[guests::CHAIN]).await;
    let host = &console.harness.host;
    let nightly = ScheduleName::new("nightly").unwrap();
    let cron = Trigger::Cron { expression: "0 0 3 * * *".into(), timezone: "Europe/Paris".into() };
    let spec = |trigger| ScheduleSpec {
        orchestrator: "chain".into(),
        input: Payload::stored(r#"{"steps": 1}"#),
        trigger,
        overlap: Overlap::Skip,
        catch_up_ms: 60_000,
        start_at: None,
        end_at: None,
    };
    host.create_schedule(&nightly, spec(cron), false).await.unwrap();
    host.create_schedule(&ScheduleName::new("ticks").unwrap(), spec(Trigger::Every { interval_ms: 60_000 }), true)
        .await
        .unwrap();

    console.open("/schedules").await;
    let client = console.client();
    wait_count(client, "table#schedules tr[data-schedule]", 2).await;
    wait_text(client, r#"tr[data-schedule="nightly"] td.state"#, "Active").await;
    wait_text(client, r#"tr[data-schedule="ticks"] td.state"#, "Paused").await;
    // Five fire times, on the schedule's clock: 03:00 in Paris, winter time at the harness's T0.
    wait_count(client, r#"tr[data-schedule="nightly"] td.next li"#, 5).await;
    let first = text(client, r#"tr[data-schedule="nightly"] td.next li"#).await.unwrap();
    assert!(first.contains("03:00:00") && first.contains("CET"), "the first fire time: {first:?}");

    click_schedule_button(client, "nightly", "pause").await;
    until("the schedule is paused", async || match host.schedule_record(&nightly).await {
        Ok(record) if record.paused => Ok(()),
        other => Err(format!("{other:?}")),
    })
    .await;
    // The page reloads once the API has answered, and shows it paused, with Resume.
    wait_text(client, r#"tr[data-schedule="nightly"] td.state"#, "Paused").await;
    wait_count(client, r#"tr[data-schedule="nightly"] button[data-schedule-action="resume"]"#, 1).await;

    click_schedule_button(client, "nightly", "trigger").await;
    let run = "nightly@manual-1";
    until("the manual run is started", async || match host.store().instance(run) {
        Ok(Some(_)) => Ok(()),
        other => Err(format!("{other:?}")),
    })
    .await;
    wait_text(client, r#"tr[data-schedule="nightly"] td.runs li a"#, run).await;
    assert_eq!(console.harness.finished(run).await.status, RuntimeStatus::Completed);
    console.close().await;
}

/// The page of seed 004's fan-out, with its timeline, as the README shows it: saved to
/// `target/artifacts/console-fan-out.png` by every run, and to `docs/console-fan-out.png` when
/// `REPRISE_BLESS_SCREENSHOT` is set.
#[tokio::test(flavor = "multi_thread")]
async fn a_screenshot_of_the_fan_out_timeline_is_saved() {
    let console = Console::new(&[guests::FAN_OUT]).await;
    // The manual clock stands still, so every event would be at T0 and every bar zero wide: a
    // clock that moves 50 ms at each of the host's commits gives the bars lengths.
    let (host, clock) = (console.harness.host.clone(), console.harness.clock.clone());
    let (ready, watching) = tokio::sync::oneshot::channel();
    let ticking = tokio::spawn(async move {
        let mut ready = Some(ready);
        loop {
            // Called before the start, so that the first commit moves the clock too.
            let committed = host.next_commit();
            if let Some(ready) = ready.take() {
                let _ = ready.send(());
            }
            committed.await;
            clock.advance(50);
        }
    });
    watching.await.expect("the clock follows the commits");
    let record = console.harness.run("fan-out", "fan_out_fan_in", json!({"items": 8})).await;
    ticking.abort();
    assert_eq!(record.status, RuntimeStatus::Completed, "{:?}", record.failure);

    console.open("/instances/fan-out").await;
    let client = console.client();
    wait_text(client, "#status", "Completed").await;
    let timeline = client.wait().at_most(WAIT).for_element(Locator::Css("svg#timeline")).await.expect("the timeline");
    // The picture is taken once it is all drawn: eight items in parallel, item 3 rejected.
    let lanes = r#"svg#timeline g.lane[data-kind="activity"][data-name="process_item"]"#;
    wait_count(client, lanes, 8).await;
    wait_count(client, &format!("{lanes} rect.attempt.completed"), 7).await;
    wait_count(client, &format!("{lanes} rect.attempt.failed"), 1).await;

    // The whole page (the timeline with its lanes' labels and axis, and the instance around
    // it), with the timeline inside the window, so inside the picture.
    let (_, top, _, height) = timeline.rectangle().await.expect("the timeline's place");
    let window = client.execute("return window.innerHeight", vec![]).await.expect("the window's height");
    let window = window.as_f64().expect("a number");
    assert!(top >= 0.0 && top + height <= window, "the timeline ({top}+{height}) is not within the window ({window})");
    let png = client.screenshot().await.expect("a screenshot of the page");
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 8, "a PNG image ({} bytes)", png.len());
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let artifacts = root.join("target/artifacts");
    std::fs::create_dir_all(&artifacts).expect("create target/artifacts");
    std::fs::write(artifacts.join("console-fan-out.png"), &png).expect("save the screenshot");
    if std::env::var_os("REPRISE_BLESS_SCREENSHOT").is_some() {
        std::fs::create_dir_all(root.join("docs")).expect("create docs/");
        std::fs::write(root.join("docs/console-fan-out.png"), &png).expect("save the README's screenshot");
    }
    console.close().await;
}

/// A history of more than 10,000 events: the page loads with a lane per task, and the keyboard
/// zooms its time axis (the picture is one static SVG that the zoom only widens).
#[tokio::test(flavor = "multi_thread")]
async fn a_timeline_of_ten_thousand_events_loads_and_zooms_from_the_keyboard() {
    let console = Console::new(&[guests::FAN_OUT]).await;
    let items = 5_000;
    console.harness.start("big", "fan_out_fan_in", json!({"items": items})).await;
    let record = tokio::time::timeout(Duration::from_secs(600), console.harness.host.wait("big"))
        .await
        .expect("5,000 activities within 10 minutes")
        .expect("the instance");
    assert_eq!(record.status, RuntimeStatus::Completed, "{:?}", record.failure);
    assert!(record.history_len > 10_000, "{} events", record.history_len);

    console.open("/instances/big").await;
    let client = console.client();
    wait_text(client, "#status", "Completed").await;
    wait_count(client, "svg#timeline g.lane", items).await;
    wait_count(client, "table#history tbody tr", record.history_len as usize).await;
    let picture = client.find(Locator::Css(".picture")).await.expect("the picture");
    let width = async || {
        let svg = client.find(Locator::Css("svg#timeline")).await.map_err(|e| e.to_string())?;
        Ok::<f64, String>(svg.rectangle().await.map_err(|e| e.to_string())?.2)
    };
    let fitted = width().await.expect("the picture's width");
    picture.send_keys("+").await.expect("press +");
    until("the picture twice as wide after +", async || {
        let now = width().await?;
        if (now - 2.0 * fitted).abs() < 2.0 { Ok(()) } else { Err(format!("{now} px wide, fitted {fitted}")) }
    })
    .await;
    picture.send_keys("0").await.expect("press 0");
    until("the picture fitted again after 0", async || {
        let now = width().await?;
        if (now - fitted).abs() < 2.0 { Ok(()) } else { Err(format!("{now} px wide, fitted {fitted}")) }
    })
    .await;
    console.close().await;
}
