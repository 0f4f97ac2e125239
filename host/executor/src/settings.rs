//! How the activities of one loaded component run: what each may reach (its grants and limits)
//! and the timeout and retry policy an attempt gets when the orchestrator's call sets none.
//! The deployment file and the flags build these (see the CLI's `deployment` module); the
//! registry keeps them beside each loaded component, and the activity dispatcher only reads
//! them. Plain data: it owns no work and imports no owner.

use reprise_core::{ActivityOptions, RetryPolicy};
use reprise_runtime::ActivityGrants;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// The settings of one activity.
#[derive(Debug, Clone, Default)]
pub struct ActivitySettings {
    /// What its attempts may reach, and their limits.
    pub grants: ActivityGrants,
    /// The timeout of an attempt whose call set none.
    pub default_timeout: Option<Duration>,
    /// The retry policy of a call that set none.
    pub default_retry: Option<RetryPolicy>,
}

impl ActivitySettings {
    /// The options an attempt runs with: the call's own, and the defaults where it set none.
    /// They never enter history (the call's options do), so changing a default changes how
    /// later attempts run without touching any replay.
    pub fn effective(&self, options: &ActivityOptions) -> ActivityOptions {
        ActivityOptions {
            retry: options.retry.clone().or_else(|| self.default_retry.clone()),
            timeout_ms: options.timeout_ms.or(self.default_timeout.map(|t| t.as_millis() as u64)),
        }
    }
}

/// The settings of a component's activities: one for all of them, and one per name where the
/// deployment says more.
#[derive(Debug, Clone, Default)]
pub struct ComponentSettings {
    /// For every activity the component exports that `by_activity` does not name.
    pub activities: Arc<ActivitySettings>,
    /// Per activity name.
    pub by_activity: HashMap<String, Arc<ActivitySettings>>,
}

impl ComponentSettings {
    /// The same settings for every activity.
    pub fn uniform(settings: ActivitySettings) -> Self {
        ComponentSettings { activities: Arc::new(settings), by_activity: HashMap::new() }
    }

    /// The settings of activity `name`.
    pub fn activity(&self, name: &str) -> Arc<ActivitySettings> {
        self.by_activity.get(name).unwrap_or(&self.activities).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(max_attempts: u32) -> RetryPolicy {
        RetryPolicy {
            max_attempts,
            first_retry_interval_ms: 10,
            backoff_coefficient: 2.0,
            max_retry_interval_ms: None,
            retry_timeout_ms: None,
            non_retryable_errors: Vec::new(),
        }
    }

    #[test]
    fn defaults_fill_only_what_the_call_left_unset() {
        let settings = ActivitySettings {
            default_timeout: Some(Duration::from_secs(5)),
            default_retry: Some(policy(3)),
            ..ActivitySettings::default()
        };
        let bare = settings.effective(&ActivityOptions::default());
        assert_eq!((bare.timeout_ms, bare.retry.map(|r| r.max_attempts)), (Some(5_000), Some(3)));
        let own = ActivityOptions { retry: Some(policy(1)), timeout_ms: Some(20) };
        assert_eq!(settings.effective(&own), own, "the call's own options win");
    }

    #[test]
    fn an_activity_without_its_own_settings_gets_the_components() {
        let mut settings = ComponentSettings::uniform(ActivitySettings::default());
        let special = ActivitySettings { default_timeout: Some(Duration::from_secs(1)), ..ActivitySettings::default() };
        settings.by_activity.insert("charge".into(), Arc::new(special));
        assert_eq!(settings.activity("charge").default_timeout, Some(Duration::from_secs(1)));
        assert_eq!(settings.activity("refund").default_timeout, None);
    }
}
