//! Updates, Temporal's workflow updates in Reprise: requests to a running instance that its
//! orchestrator answers.
//!
//! - `account`: input `{"limit": n}`. Publishes the custom status `{"balance": b, "open": true}`
//!   and takes `deposit` updates (input: an amount, a positive integer) one at a time: each is
//!   answered with the new balance, after the activity `audit` (input `{"amount": a,
//!   "balance": b}`, output `"audited <a>"`) has recorded it, so the answer is given in a later
//!   episode than the one the update arrived in. The update `close` (input: anything) is
//!   answered with the final balance and ends the instance with `{"balance": b, "deposits":
//!   k}`, and so does the balance reaching `limit`. A deposit of 13 is answered with the failure
//!   `Unlucky` (the instance goes on).
//! - The validator of `deposit` refuses (before the host records anything) an amount that is
//!   not positive (`NotPositive`), and any deposit once the custom status says the account is
//!   not open (`Closed`). Amounts that are not integers are refused with `InvalidInput`.
//! - `deaf`: waits for the event `stop`, then completes with `"stopped"`, never waiting for
//!   updates: an update sent to it is never answered.

use reprise_sdk::{ActivityContext, Context, Failure, UpdateCheck};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The input of `account`.
#[derive(Debug, Deserialize)]
struct Account {
    limit: u64,
}

/// The custom status `account` publishes, which the validator reads.
#[derive(Debug, Serialize, Deserialize)]
struct Published {
    balance: u64,
    open: bool,
}

fn account(ctx: &Context, account: Account) -> Result<Value, Failure> {
    let mut balance = 0u64;
    let mut deposits = 0u64;
    ctx.set_custom_status(&Published { balance, open: true })?;
    // One wait per name at a time; the one that loses a race stays pending for the next update.
    let mut deposit = ctx.wait_for_update::<u64>("deposit");
    let close = ctx.wait_for_update::<Value>("close");
    loop {
        if ctx.first(&[&deposit, &close]) == 1 {
            let close = close.wait()?;
            ctx.reply_update(&close, Ok(balance))?;
            ctx.set_custom_status(&Published { balance, open: false })?;
            return Ok(json!({ "balance": balance, "deposits": deposits }));
        }
        let update = deposit.wait()?;
        deposit = ctx.wait_for_update::<u64>("deposit");
        if update.input == 13 {
            ctx.reply_update::<_, u64>(&update, Err(Failure::new("Unlucky", "13 is not taken here")))?;
            continue;
        }
        ctx.call_activity::<String, _>("audit", &json!({ "amount": update.input, "balance": balance })).wait()?;
        balance += update.input;
        deposits += 1;
        ctx.reply_update(&update, Ok(balance))?;
        let open = balance < account.limit;
        ctx.set_custom_status(&Published { balance, open })?;
        if !open {
            return Ok(json!({ "balance": balance, "deposits": deposits }));
        }
    }
}

fn positive_open_deposit(check: &UpdateCheck, amount: u64) -> Result<(), Failure> {
    if amount == 0 {
        return Err(Failure::new("NotPositive", "deposit a positive amount"));
    }
    match check.custom_status::<Published>()? {
        Some(published) if !published.open => Err(Failure::new("Closed", "the account takes no more deposits")),
        _ => Ok(()),
    }
}

fn audit(_: &ActivityContext, entry: Value) -> Result<String, Failure> {
    Ok(format!("audited {}", entry["amount"]))
}

fn deaf(ctx: &Context, _: Value) -> Result<String, Failure> {
    ctx.wait_for_event::<Value>("stop").wait()?;
    Ok("stopped".into())
}

reprise_sdk::export! {
    orchestrators: [account, deaf],
    activities: [audit],
    validators: [positive_open_deposit as "deposit"],
}

#[cfg(test)]
mod tests {
    use super::*;
    use reprise_sdk::testing::{Harness, Status};

    fn harness() -> Harness {
        Harness::new().component(reprise_sdk::component!())
    }

    #[test]
    fn deposits_are_answered_with_the_balance_and_close_ends_the_account() {
        let mut run = harness().start(account, &json!({"limit": 100}));
        assert_eq!(run.update::<_, u64>("deposit", &5), Some(Ok(5)));
        assert_eq!(run.update::<_, u64>("deposit", &7), Some(Ok(12)));
        let unlucky = run.update::<_, u64>("deposit", &13).expect("answered").unwrap_err();
        assert_eq!(unlucky.error_type, "Unlucky");
        assert_eq!(run.custom_status::<Value>(), Some(json!({"balance": 12, "open": true})));
        assert_eq!(run.calls_of("audit").len(), 2, "the unlucky deposit is not audited");
        assert_eq!(run.update::<_, u64>("close", &()), Some(Ok(12)));
        assert_eq!(run.status(), Status::Completed);
        assert_eq!(run.output::<Value>().unwrap(), json!({"balance": 12, "deposits": 2}));
    }

    #[test]
    fn the_limit_closes_the_account_with_the_deposit_that_reaches_it() {
        let mut run = harness().start(account, &json!({"limit": 10}));
        assert_eq!(run.update::<_, u64>("deposit", &10), Some(Ok(10)));
        assert_eq!(run.custom_status::<Value>(), Some(json!({"balance": 10, "open": false})));
        assert_eq!(run.status(), Status::Completed);
    }

    #[test]
    fn an_orchestrator_that_never_waits_never_answers() {
        let mut run = harness().start(deaf, &json!(null));
        assert_eq!(run.update::<_, u64>("deposit", &1), None);
        run.raise_event("stop", &());
        assert_eq!(run.output::<String>().unwrap(), "stopped");
        assert_eq!(run.answer::<u64>("update-1"), None);
    }

    #[test]
    fn the_validator_refuses_what_the_docs_say() {
        let open = UpdateCheck::new("account", Some(r#"{"balance":5,"open":true}"#.into()));
        let closed = UpdateCheck::new("account", Some(r#"{"balance":5,"open":false}"#.into()));
        assert_eq!(positive_open_deposit(&open, 3), Ok(()));
        assert_eq!(positive_open_deposit(&open, 0).unwrap_err().error_type, "NotPositive");
        assert_eq!(positive_open_deposit(&closed, 3).unwrap_err().error_type, "Closed");
        assert_eq!(positive_open_deposit(&UpdateCheck::new("account", None), 3), Ok(()));
    }
}
