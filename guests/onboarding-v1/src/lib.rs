//! Onboarding, version 1: the deploy walkthrough of the README, with its versions 2 and 3 (the
//! crates `onboarding-v2` and `onboarding-v3`).
//!
//! Orchestrator `onboard`: input a customer name `n`. Calls `create_account`, waits for the event
//! `approved` (its data: who approved, a string), calls `send_welcome`, waits for the event
//! `activated` (any data), and outputs `[<account>, <approver>, <welcome>]`. Activities:
//! `create_account` returns `"account:<n>"`, `send_welcome` returns `"letter:<n>"`.

use reprise_sdk::{ActivityContext, Context, Failure};

fn onboard(ctx: &Context, name: String) -> Result<Vec<String>, Failure> {
    let account: String = ctx.call_activity("create_account", &name).wait()?;
    let approver: String = ctx.wait_for_event("approved").wait()?;
    let welcome: String = ctx.call_activity("send_welcome", &name).wait()?;
    let _: serde_json::Value = ctx.wait_for_event("activated").wait()?;
    Ok(vec![account, approver, welcome])
}

fn create_account(_ctx: &ActivityContext, name: String) -> Result<String, Failure> {
    Ok(format!("account:{name}"))
}

fn send_welcome(_ctx: &ActivityContext, name: String) -> Result<String, Failure> {
    Ok(format!("letter:{name}"))
}

reprise_sdk::export! {
    orchestrators: [onboard],
    activities: [create_account, send_welcome],
}
