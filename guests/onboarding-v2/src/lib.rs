//! Onboarding, version 2 (see `onboarding-v1`): after the approval, `send_welcome_kit` replaces
//! `send_welcome`, with no version guard. A version-1 instance still waiting for its approval
//! replays on it and can be upgraded; one already approved recorded `send_welcome` where this
//! code calls `send_welcome_kit`, so it diverges there and must stay on version 1.
//!
//! Orchestrator `onboard`: as in version 1, with `send_welcome_kit` (returns `"kit:<n>"`) for
//! `send_welcome`. Activities: `create_account`, `send_welcome` (kept for the instances that stay
//! on version 1, which run their activities wherever the name is served), `send_welcome_kit`.

use reprise_sdk::{ActivityContext, Context, Failure};

fn onboard(ctx: &Context, name: String) -> Result<Vec<String>, Failure> {
    let account: String = ctx.call_activity("create_account", &name).wait()?;
    let approver: String = ctx.wait_for_event("approved").wait()?;
    let welcome: String = ctx.call_activity("send_welcome_kit", &name).wait()?;
    let _: serde_json::Value = ctx.wait_for_event("activated").wait()?;
    Ok(vec![account, approver, welcome])
}

fn create_account(_ctx: &ActivityContext, name: String) -> Result<String, Failure> {
    Ok(format!("account:{name}"))
}

fn send_welcome(_ctx: &ActivityContext, name: String) -> Result<String, Failure> {
    Ok(format!("letter:{name}"))
}

fn send_welcome_kit(_ctx: &ActivityContext, name: String) -> Result<String, Failure> {
    Ok(format!("kit:{name}"))
}

reprise_sdk::export! {
    orchestrators: [onboard],
    activities: [create_account, send_welcome, send_welcome_kit],
}
