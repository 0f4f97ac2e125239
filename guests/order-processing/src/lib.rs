//! Seed 004, function chaining: an order goes through validation, payment, inventory, shipment
//! and confirmation, one activity after the other, each step feeding the next, with the
//! instance's custom status telling where it is.
//!
//! Orchestrator `process_order`: input an order id (a JSON string), output
//! `{"success": bool, "order_id": ..., "tracking_number"?: ..., "failure_reason"?: ...}`.
//! An id containing `empty` fails validation ("Order has no items"); an id containing `declined`
//! has its payment declined ("Payment failed", after `notify_payment_failure`). Every activity
//! output is a pure function of its input.

use reprise_sdk::{ActivityContext, Context, Failure};
use serde::{Deserialize, Serialize};

/// What `process_order` returns.
#[derive(Debug, Serialize, Deserialize)]
struct OrderResult {
    success: bool,
    order_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tracking_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failure_reason: Option<String>,
}

/// One line of an order.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct OrderItem {
    product_id: String,
    quantity: u32,
}

/// What `validate_order` returns.
#[derive(Debug, Serialize, Deserialize)]
struct ValidationResult {
    is_valid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    failure_reason: Option<String>,
    /// In cents.
    total_amount: u64,
    items: Vec<OrderItem>,
}

/// The input of `process_payment`.
#[derive(Debug, Serialize, Deserialize)]
struct PaymentRequest {
    order_id: String,
    /// In cents.
    amount: u64,
}

/// What `process_payment` returns.
#[derive(Debug, Serialize, Deserialize)]
struct PaymentResult {
    success: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    transaction_id: Option<String>,
}

/// What `update_inventory` returns.
#[derive(Debug, Serialize, Deserialize)]
struct InventoryUpdate {
    reserved_units: u32,
}

/// What `initiate_shipment` returns.
#[derive(Debug, Serialize, Deserialize)]
struct ShipmentInfo {
    tracking_number: String,
    estimated_delivery: String,
}

/// The input of `send_order_confirmation`.
#[derive(Debug, Serialize, Deserialize)]
struct OrderConfirmation {
    order_id: String,
    tracking_number: String,
    estimated_delivery: String,
}

fn process_order(ctx: &Context, order_id: String) -> Result<OrderResult, Failure> {
    ctx.log_info(format!("processing order {order_id}"));

    ctx.set_custom_status("Validating order")?;
    let validation: ValidationResult = ctx.call_activity("validate_order", &order_id).wait()?;
    if !validation.is_valid {
        return Ok(OrderResult {
            success: false,
            order_id,
            tracking_number: None,
            failure_reason: validation.failure_reason,
        });
    }

    ctx.set_custom_status("Processing payment")?;
    let payment: PaymentResult = ctx
        .call_activity(
            "process_payment",
            &PaymentRequest { order_id: order_id.clone(), amount: validation.total_amount },
        )
        .wait()?;
    if !payment.success {
        ctx.log_warn(format!("payment declined for order {order_id}"));
        ctx.call_activity::<(), _>("notify_payment_failure", &order_id).wait()?;
        return Ok(OrderResult {
            success: false,
            order_id,
            tracking_number: None,
            failure_reason: Some("Payment failed".to_owned()),
        });
    }

    ctx.set_custom_status("Updating inventory")?;
    ctx.call_activity::<InventoryUpdate, _>("update_inventory", &validation.items).wait()?;

    ctx.set_custom_status("Initiating shipment")?;
    let shipment: ShipmentInfo = ctx.call_activity("initiate_shipment", &order_id).wait()?;

    ctx.set_custom_status("Sending notification")?;
    ctx.call_activity::<String, _>(
        "send_order_confirmation",
        &OrderConfirmation {
            order_id: order_id.clone(),
            tracking_number: shipment.tracking_number.clone(),
            estimated_delivery: shipment.estimated_delivery,
        },
    )
    .wait()?;

    Ok(OrderResult { success: true, order_id, tracking_number: Some(shipment.tracking_number), failure_reason: None })
}

fn validate_order(_ctx: &ActivityContext, order_id: String) -> Result<ValidationResult, Failure> {
    if order_id.contains("empty") {
        return Ok(ValidationResult {
            is_valid: false,
            failure_reason: Some("Order has no items".to_owned()),
            total_amount: 0,
            items: Vec::new(),
        });
    }
    // A made-up but stable order: one to three lines, and a total derived from the id.
    let lines = order_id.len() % 3 + 1;
    let items =
        (1..=lines).map(|n| OrderItem { product_id: format!("SKU-{order_id}-{n}"), quantity: n as u32 }).collect();
    let total_amount =
        order_id.bytes().enumerate().map(|(i, b)| u64::from(b) * (i as u64 + 1)).sum::<u64>() % 50_000 + 1_000;
    Ok(ValidationResult { is_valid: true, failure_reason: None, total_amount, items })
}

fn process_payment(_ctx: &ActivityContext, request: PaymentRequest) -> Result<PaymentResult, Failure> {
    if request.order_id.contains("declined") {
        return Ok(PaymentResult { success: false, transaction_id: None });
    }
    Ok(PaymentResult { success: true, transaction_id: Some(format!("TX-{}-{}", request.order_id, request.amount)) })
}

fn notify_payment_failure(_ctx: &ActivityContext, order_id: String) -> Result<(), Failure> {
    eprintln!("order {order_id}: payment failed, customer notified");
    Ok(())
}

fn update_inventory(_ctx: &ActivityContext, items: Vec<OrderItem>) -> Result<InventoryUpdate, Failure> {
    Ok(InventoryUpdate { reserved_units: items.iter().map(|item| item.quantity).sum() })
}

fn initiate_shipment(_ctx: &ActivityContext, order_id: String) -> Result<ShipmentInfo, Failure> {
    Ok(ShipmentInfo { tracking_number: format!("TRK-{order_id}"), estimated_delivery: "3-5 business days".to_owned() })
}

fn send_order_confirmation(_ctx: &ActivityContext, confirmation: OrderConfirmation) -> Result<String, Failure> {
    Ok(format!(
        "order {} shipped as {}, arriving in {}",
        confirmation.order_id, confirmation.tracking_number, confirmation.estimated_delivery
    ))
}

reprise_sdk::export! {
    orchestrators: [process_order],
    activities: [
        validate_order,
        process_payment,
        notify_payment_failure,
        update_inventory,
        initiate_shipment,
        send_order_confirmation,
    ],
}

#[cfg(test)]
mod tests;
