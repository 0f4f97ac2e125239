//! From the file's text to settings: activity tables layered over their component's, values
//! parsed (grants, sizes, durations, retry policies, flow limits), secrets read, and every
//! refusal tied to its line.

use super::file::{self, File, Settings, Value};
use super::{DeployedComponent, DeployedSchedule, Deployment, DeploymentError};
use reprise_core::RetryPolicy;
use reprise_core::flow::{FlowLimit, FlowLimitError, KeyPointer, Rate};
use reprise_core::schedule::{ScheduleName, ScheduleParts};
use reprise_executor::{ActivitySettings, UpgradePolicy};
use reprise_runtime::http::{GrantHeader, HttpAccess, HttpGrant, HttpGrants, TlsTrust};
use reprise_runtime::{ActivityGrants, AttemptLimits};
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use toml::Spanned;

/// One activity's settings, with where each value it was given comes from (what `config
/// check` prints: never a secret).
#[derive(Debug, Clone, Default)]
pub(crate) struct Resolved {
    /// What the executor runs it with.
    pub(crate) settings: ActivitySettings,
    /// Its environment variables: name, and what to show for the value.
    pub(crate) env: Vec<(String, Shown)>,
    /// The headers the host sets: grant, name, and what to show for the value.
    pub(crate) headers: Vec<(String, String, Shown)>,
}

/// What may be shown of a value given to activities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Shown {
    /// Written in the file or a flag: shown as is.
    Plain(String),
    /// A secret from the host's environment variable.
    Env(String),
    /// A secret from a file.
    File(String),
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Shown::Plain(value) => write!(f, "{value:?}"),
            Shown::Env(name) => write!(f, "(secret from the environment variable {name})"),
            Shown::File(path) => write!(f, "(secret from the file {path})"),
        }
    }
}

impl Resolved {
    /// Adds what the `run`/`serve` flags grant every component (they only ever add).
    pub(crate) fn with_flags(mut self, flags: &ActivityGrants) -> Self {
        let grants = &mut self.settings.grants;
        for (name, value) in &flags.env {
            grants.env.retain(|(n, _)| n != name);
            grants.env.push((name.clone(), value.clone()));
            self.env.retain(|(n, _)| n != name);
            self.env.push((name.clone(), Shown::Plain(value.clone())));
        }
        grants.dirs.extend(flags.dirs.iter().cloned());
        grants.network |= flags.network;
        if !flags.http.grants.is_empty() {
            let mut access = (*grants.http).clone();
            let all: Vec<HttpGrant> = access.grants.iter().chain(flags.http.grants.iter()).cloned().collect();
            access.grants = HttpGrants::new(all);
            grants.http = Arc::new(access);
        }
        self
    }
}

/// Positions in the file, for errors.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    fn line(&self, span: Range<usize>) -> usize {
        self.text[..span.start.min(self.text.len())].matches('\n').count() + 1
    }

    fn invalid(&self, span: Range<usize>, message: impl Into<String>) -> DeploymentError {
        DeploymentError::Invalid {
            path: self.path.display().to_string(),
            line: self.line(span),
            message: message.into(),
        }
    }

    /// A path in the file, relative to the file's directory.
    fn relative(&self, path: &str) -> PathBuf {
        let base = self.path.parent().unwrap_or(Path::new(""));
        base.join(path)
    }

    fn duration(&self, value: &Spanned<String>, what: &str) -> Result<Duration, DeploymentError> {
        humantime::parse_duration(value.get_ref()).map_err(|e| {
            self.invalid(
                value.span(),
                format!(
                    "{what} `{}` is not a duration ({e}); write it as \"30s\", \"500ms\" or \"2m\"",
                    value.get_ref()
                ),
            )
        })
    }

    fn bytes(&self, value: &Spanned<String>, what: &str) -> Result<u64, DeploymentError> {
        value.get_ref().parse::<bytesize::ByteSize>().map(|b| b.as_u64()).map_err(|e| {
            self.invalid(
                value.span(),
                format!("{what} `{}` is not a size ({e}); write it as \"64 MiB\" or \"100 MB\"", value.get_ref()),
            )
        })
    }
}

/// See the module docs.
pub(super) fn resolve(path: &Path, text: &str) -> Result<Deployment, DeploymentError> {
    let parsed: File = toml::from_str(text)
        .map_err(|e| DeploymentError::Syntax { path: path.display().to_string(), message: e.to_string() })?;
    let source = Source { path, text };
    let listen = match &parsed.serve.listen {
        None => None,
        Some(address) => Some(address.get_ref().parse().map_err(|e| {
            source.invalid(
                address.span(),
                format!("listen `{}` is not an address ({e}); write it as \"127.0.0.1:7071\"", address.get_ref()),
            )
        })?),
    };
    let mut upgrade_policies = BTreeMap::new();
    for (name, orchestrator) in &parsed.orchestrators {
        let policy = &orchestrator.upgrade_policy;
        let parsed: UpgradePolicy = policy.get_ref().parse().map_err(|e: String| source.invalid(policy.span(), e))?;
        upgrade_policies.insert(name.clone(), parsed);
    }
    let mut flow = BTreeMap::new();
    for (name, limits) in &parsed.activities {
        flow.insert(name.get_ref().clone(), (source.line(name.span()), flow_limit(&source, "activity", name, limits)?));
    }
    let mut entity_flow = BTreeMap::new();
    for (name, limits) in &parsed.entities {
        if let Some(key) = &limits.key {
            return Err(source.invalid(
                key.span(),
                format!(
                    "entity {}: an entity already runs one batch at a time per key; its limits apply to the \
                     entity name as a whole, without a key",
                    name.get_ref()
                ),
            ));
        }
        let limit = flow_limit(&source, "entity", name, limits)?;
        entity_flow.insert(name.get_ref().clone(), (source.line(name.span()), limit));
    }
    let mut components = Vec::new();
    for component in &parsed.components {
        let file = source.relative(component.path.get_ref());
        if !file.is_file() {
            return Err(source.invalid(
                component.path.span(),
                format!(
                    "no component file at {} (paths are relative to the deployment file's directory)",
                    file.display()
                ),
            ));
        }
        let activities = settings(&source, &component.activities)?;
        let mut by_activity = BTreeMap::new();
        for (name, own) in &component.activity {
            let layered = layer(&component.activities, own);
            by_activity.insert(name.get_ref().clone(), (source.line(name.span()), settings(&source, &layered)?));
        }
        components.push(DeployedComponent {
            path: file,
            line: source.line(component.path.span()),
            activities,
            by_activity,
        });
    }
    let mut schedules = Vec::new();
    for (name, schedule) in &parsed.schedules {
        let line = source.line(name.span());
        let checked =
            ScheduleName::new(name.get_ref().clone()).map_err(|e| source.invalid(name.span(), e.to_string()))?;
        let input = match &schedule.input {
            None => None,
            Some(text) => {
                serde_json::from_str::<serde::de::IgnoredAny>(text.get_ref()).map_err(|e| {
                    source.invalid(
                        text.span(),
                        format!("input is not JSON text ({e}); a string must be quoted inside: input = '\"text\"'"),
                    )
                })?;
                Some(reprise_core::Payload::stored(text.get_ref().clone()))
            }
        };
        let parts = ScheduleParts {
            orchestrator: schedule.orchestrator.clone(),
            input,
            cron: schedule.cron.clone(),
            every: schedule.every.clone(),
            timezone: schedule.timezone.clone(),
            overlap: schedule.overlap.clone(),
            catch_up: schedule.catch_up.clone(),
            start_at: schedule.start_at.clone(),
            end_at: schedule.end_at.clone(),
        };
        let spec = parts.spec().map_err(|e| source.invalid(name.span(), format!("schedule {checked}: {e}")))?;
        schedules.push(DeployedSchedule { name: checked, spec, paused: schedule.paused, line });
    }
    Ok(Deployment { path: path.to_path_buf(), listen, components, upgrade_policies, flow, entity_flow, schedules })
}

/// An `[activity.NAME]` or `[entity.NAME]` table's limits (`kind` says which), each refusal
/// on the line of the value it is about.
fn flow_limit(
    source: &Source<'_>,
    kind: &str,
    name: &Spanned<String>,
    given: &file::Flow,
) -> Result<FlowLimit, DeploymentError> {
    let invalid =
        |span: Range<usize>, error: FlowLimitError| source.invalid(span, format!("{kind} {}: {error}", name.get_ref()));
    let burst = given.burst.as_ref().map(|b| *b.get_ref());
    let rate = match &given.rate {
        Some(rate) => Some(Rate::parse(rate.get_ref(), burst).map_err(|e| invalid(rate.span(), e))?),
        None if given.burst.is_some() => {
            let span = given.burst.as_ref().map(Spanned::span).unwrap_or_default();
            return Err(source.invalid(
                span,
                format!("{kind} {}: burst is the size of the rate limit's bucket; give a rate too", name.get_ref()),
            ));
        }
        None => None,
    };
    let key = match &given.key {
        Some(key) => Some(KeyPointer::new(key.get_ref()).map_err(|e| invalid(key.span(), e))?),
        None => None,
    };
    let span = given.concurrency.as_ref().map_or_else(|| name.span(), Spanned::span);
    FlowLimit::new(given.concurrency.as_ref().map(|c| *c.get_ref()), rate, key).map_err(|e| invalid(span, e))
}

/// An activity's table over its component's: each key it sets replaces the component's, so an
/// activity can be given less than its component as well as more.
fn layer(component: &Settings, activity: &Settings) -> Settings {
    let activity = activity.clone();
    Settings {
        env: activity.env.or_else(|| component.env.clone()),
        dirs: activity.dirs.or_else(|| component.dirs.clone()),
        network: activity.network.or(component.network),
        http: activity.http.or_else(|| component.http.clone()),
        memory: activity.memory.or_else(|| component.memory.clone()),
        cpu: activity.cpu.or_else(|| component.cpu.clone()),
        timeout: activity.timeout.or_else(|| component.timeout.clone()),
        retry: activity.retry.or_else(|| component.retry.clone()),
    }
}

fn settings(source: &Source<'_>, given: &Settings) -> Result<Resolved, DeploymentError> {
    let mut resolved = Resolved::default();
    let grants = &mut resolved.settings.grants;
    for (name, value) in given.env.iter().flatten() {
        let (read, shown) = read_value(source, value, &format!("the environment variable {name}"))?;
        grants.env.push((name.clone(), read));
        resolved.env.push((name.clone(), shown));
    }
    for dir in given.dirs.iter().flatten() {
        let host = source.relative(&dir.host);
        let guest = dir.guest.clone().unwrap_or_else(|| dir.host.clone());
        grants.dirs.push((host, guest, dir.read_only));
    }
    grants.network = given.network.unwrap_or(false);
    grants.limits = AttemptLimits {
        memory_bytes: given.memory.as_ref().map(|m| source.bytes(m, "memory")).transpose()?.map(|b| b as usize),
        cpu: given.cpu.as_ref().map(|c| source.duration(c, "cpu")).transpose()?,
    };
    if let Some(http) = &given.http {
        let (access, headers) = http_access(source, http)?;
        grants.http = Arc::new(access);
        resolved.headers = headers;
    }
    resolved.settings.default_timeout = given.timeout.as_ref().map(|t| source.duration(t, "timeout")).transpose()?;
    resolved.settings.default_retry = given.retry.as_ref().map(|r| retry(source, r)).transpose()?;
    Ok(resolved)
}

type Headers = Vec<(String, String, Shown)>;

fn http_access(source: &Source<'_>, http: &file::Http) -> Result<(HttpAccess, Headers), DeploymentError> {
    let mut grants = Vec::new();
    for pattern in &http.allow {
        grants.push(pattern.get_ref().parse::<HttpGrant>().map_err(|e| source.invalid(pattern.span(), e.to_string()))?);
    }
    let mut access = HttpAccess { grants: HttpGrants::new(grants), ..HttpAccess::default() };
    let mut shown = Vec::new();
    for header in &http.headers {
        let grant = header
            .grant
            .get_ref()
            .parse::<HttpGrant>()
            .map_err(|e| source.invalid(header.grant.span(), e.to_string()))?;
        if !access.grants.iter().any(|g| *g == grant) {
            let listed: Vec<String> = access.grants.iter().map(|g| format!("`{g}`")).collect();
            return Err(source.invalid(
                header.grant.span(),
                format!(
                    "the header {} is for the grant `{grant}`, which `allow` does not list (it lists: {}); write the grant as in `allow`",
                    header.name.get_ref(),
                    if listed.is_empty() { "nothing".to_string() } else { listed.join(", ") }
                ),
            ));
        }
        let name: http::HeaderName = header.name.get_ref().parse().map_err(|_| {
            source.invalid(header.name.span(), format!("`{}` is not an HTTP header name", header.name.get_ref()))
        })?;
        let (value, what) = read_value(source, &header.value, &format!("the header {name}"))?;
        let mut value: http::HeaderValue = value.parse().map_err(|_| {
            source.invalid(
                header.value.span(),
                format!(
                    "the value of the header {name} is not a valid header value (a control character or a newline?)"
                ),
            )
        })?;
        value.set_sensitive(true);
        shown.push((grant.to_string(), name.to_string(), what));
        access.headers.push(GrantHeader { grant, name, value });
    }
    if !http.trust.is_empty() {
        let files: Vec<PathBuf> = http.trust.iter().map(|f| source.relative(f.get_ref())).collect();
        let trust = TlsTrust::from_pem_files(&files).map_err(|e| source.invalid(http.trust[0].span(), e))?;
        access.trust = Some(trust);
    }
    access.max_requests = http.max_requests;
    access.max_body_bytes = http.max_body.as_ref().map(|b| source.bytes(b, "max-body")).transpose()?;
    if let Some(t) = &http.connect_timeout {
        access.connect_timeout = source.duration(t, "connect-timeout")?;
    }
    if let Some(t) = &http.first_byte_timeout {
        access.first_byte_timeout = source.duration(t, "first-byte-timeout")?;
    }
    if let Some(t) = &http.between_bytes_timeout {
        access.between_bytes_timeout = source.duration(t, "between-bytes-timeout")?;
    }
    Ok((access, shown))
}

/// A value: as written, or the secret it points to, read now.
fn read_value(source: &Source<'_>, value: &Spanned<Value>, what: &str) -> Result<(String, Shown), DeploymentError> {
    let secret = match value.get_ref() {
        Value::Plain(text) => return Ok((text.clone(), Shown::Plain(text.clone()))),
        Value::Secret(secret) => secret,
    };
    let (read, shown) = match (&secret.env, &secret.file) {
        (Some(name), None) => {
            let read = std::env::var(name).map_err(|_| {
                source.invalid(
                    value.span(),
                    format!("{what} is the secret in the host's environment variable {name}, which is not set"),
                )
            })?;
            (read, Shown::Env(name.clone()))
        }
        (None, Some(file)) => {
            let path = source.relative(file);
            let read = std::fs::read_to_string(&path).map_err(|e| {
                source.invalid(
                    value.span(),
                    format!("{what} is the secret in the file {}, which cannot be read: {e}", path.display()),
                )
            })?;
            (read.trim_end_matches(['\r', '\n']).to_string(), Shown::File(path.display().to_string()))
        }
        _ => {
            return Err(source.invalid(
                value.span(),
                format!("{what}: a secret is `{{ env = \"NAME\" }}` or `{{ file = \"PATH\" }}`, exactly one of them"),
            ));
        }
    };
    Ok((format!("{}{read}", secret.prefix), shown))
}

fn retry(source: &Source<'_>, given: &Spanned<file::Retry>) -> Result<RetryPolicy, DeploymentError> {
    let r = given.get_ref();
    let duration = |text: &str, what: &str| -> Result<u64, DeploymentError> {
        humantime::parse_duration(text).map(|d| d.as_millis() as u64).map_err(|e| {
            source.invalid(given.span(), format!("retry {what} `{text}` is not a duration ({e}); write it as \"1s\""))
        })
    };
    let policy = RetryPolicy {
        max_attempts: r.max_attempts,
        first_retry_interval_ms: duration(&r.first_interval, "first-interval")?,
        backoff_coefficient: r.backoff,
        max_retry_interval_ms: r.max_interval.as_deref().map(|t| duration(t, "max-interval")).transpose()?,
        retry_timeout_ms: r.timeout.as_deref().map(|t| duration(t, "timeout")).transpose()?,
        non_retryable_errors: r.never_retry.clone(),
    };
    policy.validate().map_err(|e| source.invalid(given.span(), format!("retry: {e}")))?;
    Ok(policy)
}

#[cfg(test)]
#[path = "resolve_tests.rs"]
mod tests;
