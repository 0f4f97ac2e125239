use super::*;
use std::io::Write as _;

/// A deployment file in a fresh directory, with an empty component file beside it.
fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.wasm"), b"").unwrap();
    let path = dir.path().join("reprise.toml");
    std::fs::File::create(&path).unwrap().write_all(text.as_bytes()).unwrap();
    (dir, path)
}

fn load(text: &str) -> Result<Deployment, DeploymentError> {
    let (_dir, path) = file(text);
    super::super::load(&path)
}

fn error(text: &str) -> String {
    load(text).expect_err("the file is refused").to_string()
}

#[test]
fn an_activity_table_replaces_only_the_keys_it_sets() {
    let deployment = load(
        r#"
[[component]]
path = "app.wasm"

[component.activities]
timeout = "30s"
http = { allow = ["GET https://api.example.com/v1/*"], max-requests = 5 }

[component.activity.charge]
http = { allow = ["POST https://pay.example.com/charges"] }
cpu = "2s"
memory = "64 MiB"
"#,
    )
    .unwrap();
    let component = &deployment.components[0];
    let all = &component.activities.settings;
    assert_eq!(all.default_timeout, Some(Duration::from_secs(30)));
    assert_eq!(all.grants.http.max_requests, Some(5));
    let (line, charge) = &component.by_activity["charge"];
    assert_eq!(*line, 9);
    let grants: Vec<String> = charge.settings.grants.http.grants.iter().map(ToString::to_string).collect();
    assert_eq!(grants, ["POST https://pay.example.com/charges"], "the activity's http replaces the component's");
    assert_eq!(charge.settings.grants.http.max_requests, None, "a table is replaced whole");
    assert_eq!(charge.settings.default_timeout, Some(Duration::from_secs(30)), "what it does not set is inherited");
    assert_eq!(charge.settings.grants.limits.cpu, Some(Duration::from_secs(2)));
    assert_eq!(charge.settings.grants.limits.memory_bytes, Some(64 * 1024 * 1024));
    let settings = component.settings_with(&ActivityGrants::default());
    assert!(settings.activity("refund").grants.limits.cpu.is_none());
}

#[test]
fn refusals_name_the_line_and_what_to_write() {
    let unknown = error("[[component]]\npath = \"app.wasm\"\nmemroy = \"1 GiB\"\n");
    assert!(unknown.contains("line 3") && unknown.contains("memroy"), "{unknown}");

    let grant = error(
        "[[component]]\npath = \"app.wasm\"\n[component.activities]\nhttp.allow = [\"GTE https://x.example.com\"]\n",
    );
    assert!(grant.ends_with("") && grant.contains("reprise.toml:4:") && grant.contains("GTE"), "{grant}");
    assert!(grant.contains("METHOD SCHEME://HOST[:PORT][PATH]"), "{grant}");

    let missing = error("[[component]]\npath = \"gone.wasm\"\n");
    assert!(missing.contains("reprise.toml:2:") && missing.contains("gone.wasm"), "{missing}");

    let duration = error("[[component]]\npath = \"app.wasm\"\n[component.activities]\ntimeout = \"soon\"\n");
    assert!(duration.contains(":4:") && duration.contains("\"30s\""), "{duration}");

    let header = error(
        "[[component]]\npath = \"app.wasm\"\n[component.activities.http]\nallow = [\"GET https://a.example.com\"]\n\
         headers = [{ grant = \"GET https://b.example.com\", name = \"Authorization\", value = \"x\" }]\n",
    );
    assert!(header.contains(":5:") && header.contains("does not list"), "{header}");

    let policy = error("[orchestrator.onboarding]\nupgrade-policy = \"always\"\n");
    assert!(policy.contains(":2:") && policy.contains("upgrade-if-compatible"), "{policy}");

    let secret = error(
        "[[component]]\npath = \"app.wasm\"\n[component.activities]\nenv = { KEY = { env = \"REPRISE_TEST_SURELY_UNSET_VARIABLE\" } }\n",
    );
    assert!(secret.contains(":4:") && secret.contains("is not set"), "{secret}");
}

#[test]
fn secrets_are_read_at_start_and_shown_only_by_origin() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("app.wasm"), b"").unwrap();
    std::fs::write(dir.path().join("key"), "sk_live_not_for_eyes\n").unwrap();
    let path = dir.path().join("reprise.toml");
    std::fs::write(
        &path,
        r#"
[[component]]
path = "app.wasm"
[component.activities]
env = { MODE = "test", KEY = { file = "key" } }
[component.activities.http]
allow = ["POST https://pay.example.com/charges"]
headers = [{ grant = "POST https://pay.example.com/charges", name = "Authorization", value = { file = "key", prefix = "Bearer " } }]
"#,
    )
    .unwrap();
    let deployment = super::super::load(&path).unwrap();
    let resolved = &deployment.components[0].activities;
    let env: BTreeMap<_, _> = resolved.settings.grants.env.iter().cloned().collect();
    assert_eq!(env["KEY"], "sk_live_not_for_eyes", "the file's trailing newline is dropped");
    let header = &resolved.settings.grants.http.headers[0];
    assert_eq!(header.value.to_str().unwrap(), "Bearer sk_live_not_for_eyes");
    assert!(header.value.is_sensitive());
    let shown = format!("{:?} {:?} {:?}", resolved.env, resolved.headers, deployment);
    assert!(!shown.contains("sk_live"), "debug output holds no secret: {shown}");
    assert!(shown.contains("MODE"));
}

#[test]
fn serve_and_orchestrator_settings_are_read() {
    let deployment = load(
        "[serve]\nlisten = \"127.0.0.1:7999\"\n\n[orchestrator.onboarding]\nupgrade-policy = \"upgrade-if-compatible\"\n",
    )
    .unwrap();
    assert_eq!(deployment.listen, Some("127.0.0.1:7999".parse().unwrap()));
    assert_eq!(deployment.upgrade_policies["onboarding"], UpgradePolicy::UpgradeIfCompatible);
    assert!(deployment.components.is_empty());
    let listen = error("[serve]\nlisten = \"localhost\"\n");
    assert!(listen.contains(":2:") && listen.contains("127.0.0.1:7071"), "{listen}");
}

#[test]
fn activity_tables_give_flow_limits_and_refusals_name_their_line() {
    let deployment = load(
        "[activity.charge]\nconcurrency = 3\nrate = \"20/s\"\nburst = 5\nkey = \"/customer_id\"\n\n[activity.gpu]\nconcurrency = 1\n",
    )
    .unwrap();
    let (line, charge) = &deployment.flow["charge"];
    assert_eq!(*line, 1);
    assert_eq!(charge.to_string(), "concurrency:3,rate:20/s,burst:5,key:/customer_id");
    assert_eq!(deployment.flow["gpu"].1.to_string(), "concurrency:1");

    let rate = error("[activity.charge]\nconcurrency = 3\nrate = \"fast\"\n");
    assert!(
        rate.contains("reprise.toml:3:") && rate.contains("activity charge") && rate.contains("\"20/s\""),
        "{rate}"
    );
    let empty = error("[activity.charge]\nkey = \"/id\"\n");
    assert!(empty.contains(":1:") && empty.contains("`concurrency` or `rate`"), "{empty}");
    let zero = error("[activity.charge]\nconcurrency = 0\n");
    assert!(zero.contains(":2:") && zero.contains("at least 1"), "{zero}");
    let key = error("[activity.charge]\nconcurrency = 1\nkey = \"customer_id\"\n");
    assert!(key.contains(":3:") && key.contains("JSON pointer"), "{key}");
    let burst = error("[activity.charge]\nconcurrency = 1\nburst = 4\n");
    assert!(burst.contains(":3:") && burst.contains("give a rate too"), "{burst}");
    let unknown = error("[activity.charge]\nconcurency = 1\n");
    assert!(unknown.contains("line 2") && unknown.contains("concurency"), "{unknown}");
}

#[test]
fn entity_tables_give_flow_limits_without_a_key() {
    let deployment = load("[entity.Gpu]\nconcurrency = 1\nrate = \"2/s\"\n").unwrap();
    let (line, gpu) = &deployment.entity_flow["Gpu"];
    assert_eq!((*line, gpu.to_string().as_str()), (1, "concurrency:1,rate:2/s,burst:2"));
    assert!(deployment.flow.is_empty(), "an entity's limits are not an activity's");
    let key = error("[entity.Gpu]\nconcurrency = 1\nkey = \"/id\"\n");
    assert!(key.contains(":3:") && key.contains("without a key"), "{key}");
    let zero = error("[entity.Gpu]\nconcurrency = 0\n");
    assert!(zero.contains(":2:") && zero.contains("entity Gpu") && zero.contains("at least 1"), "{zero}");
}

#[test]
fn schedules_are_read_checked_and_refused_with_their_line() {
    let deployment = load(
        r#"
[schedule.nightly]
orchestrator = "cleanup"
input = '{"scope": "daily"}'
cron = "30 2 * * *"
timezone = "Europe/Paris"
overlap = "buffer-one"
catch-up = "1h"

[schedule.poll]
orchestrator = "poll_feed"
every = "30s"
paused = true
"#,
    )
    .unwrap();
    let [nightly, poll] = &deployment.schedules[..] else { panic!("two schedules: {:?}", deployment.schedules) };
    assert_eq!((nightly.name.as_str(), nightly.line), ("nightly", 2));
    assert_eq!(nightly.spec.overlap, reprise_core::schedule::Overlap::BufferOne);
    assert_eq!(nightly.spec.catch_up_ms, 3_600_000);
    assert_eq!(nightly.spec.input.as_str(), r#"{"scope": "daily"}"#);
    assert!(poll.paused);
    assert_eq!(poll.spec.trigger, reprise_core::schedule::Trigger::Every { interval_ms: 30_000 });

    let zone = error("[schedule.x]\norchestrator = \"o\"\ncron = \"* * * * *\"\ntimezone = \"Moon/Base\"\n");
    assert!(zone.contains("reprise.toml:1: schedule x: unknown time zone 'Moon/Base'"), "{zone}");
    let both = error("[schedule.x]\norchestrator = \"o\"\ncron = \"* * * * *\"\nevery = \"1m\"\n");
    assert!(both.contains("exactly one of a cron expression"), "{both}");
    let input = error("[schedule.x]\norchestrator = \"o\"\nevery = \"1m\"\ninput = \"not json\"\n");
    assert!(input.contains("reprise.toml:4: input is not JSON text"), "{input}");
    let name = error("[schedule.\"a b\"]\norchestrator = \"o\"\nevery = \"1m\"\n");
    assert!(name.contains("invalid schedule name 'a b'"), "{name}");
    let unknown = error("[schedule.x]\norchestrator = \"o\"\nevery = \"1m\"\nwhen = \"now\"\n");
    assert!(unknown.contains("unknown field `when`"), "{unknown}");
}
