//! Seed 002, error handling and compensation: a funds transfer debits the source account, then
//! credits the destination; if the credit fails, the orchestrator refunds the source.
//!
//! - `transfer_funds`: input `{"source_account", "destination_account", "amount"}` (amount in
//!   cents), output `{"status": "transferred"}`, or `{"status": "refunded", "reason": ...}` when
//!   the credit failed and the source was credited back.
//! - `transfer_funds_strict`: the same without the compensation: a failed credit fails the
//!   instance (error type `ActivityFailed`, caused by the activity's `AccountFrozen`).
//!
//! The activity `credit_account` fails with `AccountFrozen` for any account whose name starts
//! with `frozen`.

use reprise_sdk::{ActivityContext, Context, Failure};
use serde::{Deserialize, Serialize};

/// The input of both orchestrators.
#[derive(Debug, Serialize, Deserialize)]
struct TransferRequest {
    source_account: String,
    destination_account: String,
    /// In cents.
    amount: u64,
}

/// The input of `debit_account` and `credit_account`.
#[derive(Debug, Serialize, Deserialize)]
struct AccountOperation {
    account: String,
    amount: u64,
}

/// What `debit_account` and `credit_account` return.
#[derive(Debug, Serialize, Deserialize)]
struct Receipt {
    account: String,
    operation: String,
    amount: u64,
}

/// What the orchestrators return.
#[derive(Debug, Serialize, Deserialize)]
struct TransferResult {
    status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
}

fn transfer_funds(ctx: &Context, transfer: TransferRequest) -> Result<TransferResult, Failure> {
    let debit = AccountOperation { account: transfer.source_account.clone(), amount: transfer.amount };
    ctx.call_activity::<Receipt, _>("debit_account", &debit).wait()?;

    let credit = AccountOperation { account: transfer.destination_account, amount: transfer.amount };
    match ctx.call_activity::<Receipt, _>("credit_account", &credit).wait() {
        Ok(_) => Ok(TransferResult { status: "transferred".to_owned(), reason: None }),
        Err(failure) => {
            // The failure is `ActivityFailed`; the activity's own failure is its first cause,
            // and `is` searches the whole chain.
            if failure.is("AccountFrozen") {
                ctx.log_warn(format!("destination frozen, refunding: {failure}"));
            } else {
                ctx.log_error(format!("credit failed, refunding: {failure}"));
            }
            // Compensation: credit the source account back.
            let refund = AccountOperation { account: transfer.source_account, amount: transfer.amount };
            ctx.call_activity::<Receipt, _>("credit_account", &refund).wait().map_err(|refund_failure| {
                Failure::new("CompensationFailed", format!("could not refund {}", refund.account))
                    .caused_by(refund_failure)
            })?;
            Ok(TransferResult { status: "refunded".to_owned(), reason: Some(failure.message) })
        }
    }
}

fn transfer_funds_strict(ctx: &Context, transfer: TransferRequest) -> Result<TransferResult, Failure> {
    ctx.call_activity::<Receipt, _>(
        "debit_account",
        &AccountOperation { account: transfer.source_account, amount: transfer.amount },
    )
    .wait()?;
    // No compensation: a failed credit fails the whole instance.
    ctx.call_activity::<Receipt, _>(
        "credit_account",
        &AccountOperation { account: transfer.destination_account, amount: transfer.amount },
    )
    .wait()?;
    Ok(TransferResult { status: "transferred".to_owned(), reason: None })
}

fn debit_account(_ctx: &ActivityContext, op: AccountOperation) -> Result<Receipt, Failure> {
    Ok(Receipt { account: op.account, operation: "debit".to_owned(), amount: op.amount })
}

fn credit_account(_ctx: &ActivityContext, op: AccountOperation) -> Result<Receipt, Failure> {
    if op.account.starts_with("frozen") {
        return Err(Failure::new("AccountFrozen", format!("account '{}' is frozen", op.account)));
    }
    Ok(Receipt { account: op.account, operation: "credit".to_owned(), amount: op.amount })
}

reprise_sdk::export! {
    orchestrators: [transfer_funds, transfer_funds_strict],
    activities: [debit_account, credit_account],
}

#[cfg(test)]
mod tests;
