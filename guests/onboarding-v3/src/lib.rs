//! Onboarding, version 3 (see `onboarding-v1`): the change of version 2 (`send_welcome_kit` for
//! `send_welcome`) behind `ctx.version("welcome-kit", 1)`. An instance that reaches the choice
//! on this code gets version 1 (recorded in its history) and sends the kit; a version-1 history
//! that already sent the letter has no record there and gets version 0, so it replays the
//! letter. Every running version-1 instance can therefore be upgraded to it.
//!
//! Orchestrator `onboard`: as in version 2, with the guard. Activities: `create_account`,
//! `send_welcome`, `send_welcome_kit`.

use reprise_sdk::{ActivityContext, Context, Failure};

fn onboard(ctx: &Context, name: String) -> Result<Vec<String>, Failure> {
    let account: String = ctx.call_activity("create_account", &name).wait()?;
    let approver: String = ctx.wait_for_event("approved").wait()?;
    let welcome: String = if ctx.version("welcome-kit", 1) >= 1 {
        ctx.call_activity("send_welcome_kit", &name).wait()?
    } else {
        ctx.call_activity("send_welcome", &name).wait()?
    };
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

#[cfg(test)]
mod tests;
