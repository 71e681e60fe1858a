//! The `data` of each event type, version 1. Field for field these match
//! `schemas/<event_type>.v1.json`; unknown fields are refused, as the schemas refuse them.

use serde::{Deserialize, Serialize};

use crate::money::Money;
use crate::validate::{Checked, Path, Validate, email, identifier, phone, range, text};

/// Who placed the order and how to reach them. Notifications read the contact from here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    /// Stable customer identifier.
    pub customer_id: String,
    /// E-mail address, if the customer gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// E.164 phone number, if the customer gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
}

impl Validate for Customer {
    fn validate_at(&self, at: Path<'_>) -> Checked {
        identifier(at.field("customer_id"), &self.customer_id)?;
        if let Some(e) = &self.email {
            email(at.field("email"), e)?;
        }
        if let Some(p) = &self.phone {
            phone(at.field("phone"), p)?;
        }
        Ok(())
    }
}

/// One order line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineItem {
    /// Stock-keeping unit.
    pub sku: String,
    /// Product name as shown to the customer.
    pub name: String,
    /// Units ordered, 1..=10000.
    pub quantity: u32,
    /// Price of one unit in the order's currency, minor units.
    pub unit_price_minor: i64,
}

/// How the customer intends to pay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentMethod {
    /// Card payment through the payment gateway; the payment worker charges it.
    Card,
    /// Wallet payment through the payment gateway.
    Wallet,
    /// Paid outside the gateway.
    BankTransfer,
    /// Paid on delivery.
    CashOnDelivery,
}

/// `order.created`: a customer placed an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderCreated {
    /// Who ordered.
    pub customer: Customer,
    /// 1..=500 order lines.
    pub items: Vec<LineItem>,
    /// Amount to pay.
    pub total: Money,
    /// How the customer pays.
    pub payment_method: PaymentMethod,
}

/// `order.paid`: the order's payment was captured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderPaid {
    /// Who ordered.
    pub customer: Customer,
    /// The payment that settled it.
    pub payment_id: String,
    /// Amount paid.
    pub amount: Money,
}

/// `order.shipped`: the order left the warehouse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderShipped {
    /// Who ordered.
    pub customer: Customer,
    /// Carrier name.
    pub carrier: String,
    /// Carrier's tracking number.
    pub tracking_number: String,
}

/// Why an order was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    /// The customer asked.
    CustomerRequest,
    /// Payment could not be taken.
    PaymentFailed,
    /// Items ran out.
    OutOfStock,
    /// Fraud checks stopped it.
    FraudSuspected,
    /// Anything else; see `note`.
    Other,
}

/// `order.cancelled`: the order will not be fulfilled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderCancelled {
    /// Who ordered.
    pub customer: Customer,
    /// Why.
    pub reason: CancelReason,
    /// Free text for people, at most 500 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// `payment.authorized`: funds are reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentAuthorized {
    /// The payment.
    pub payment_id: String,
    /// Amount reserved.
    pub amount: Money,
    /// Gateway that holds it (`stripe`, ...).
    pub provider: String,
    /// Gateway's authorization reference.
    pub authorization_code: String,
}

/// `payment.captured`: reserved funds were taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentCaptured {
    /// The payment.
    pub payment_id: String,
    /// Amount captured.
    pub amount: Money,
    /// Gateway.
    pub provider: String,
}

/// `payment.failed`: the gateway refused or could not take the payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentFailed {
    /// The payment.
    pub payment_id: String,
    /// Amount attempted.
    pub amount: Money,
    /// Gateway.
    pub provider: String,
    /// Who to tell that action is needed.
    pub customer: Customer,
    /// Gateway's machine-readable code (`card_declined`, ...).
    pub failure_code: String,
    /// Gateway's message for people.
    pub failure_message: String,
}

/// `payment.refunded`: money went back to the customer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentRefunded {
    /// The payment refunded.
    pub payment_id: String,
    /// The refund.
    pub refund_id: String,
    /// Amount refunded.
    pub amount: Money,
    /// Gateway.
    pub provider: String,
}

impl Validate for OrderCreated {
    fn validate_at(&self, at: Path<'_>) -> Checked {
        self.customer.validate_at(at.field("customer"))?;
        let items = at.field("items");
        if self.items.is_empty() || self.items.len() > 500 {
            return crate::validate::fail(items, "must hold 1 to 500 items");
        }
        for (i, item) in self.items.iter().enumerate() {
            let at = items.index(i);
            identifier(at.field("sku"), &item.sku)?;
            text(at.field("name"), &item.name, 1, 200)?;
            range(at.field("quantity"), i64::from(item.quantity), 1, 10_000)?;
            range(
                at.field("unit_price_minor"),
                item.unit_price_minor,
                0,
                crate::money::MAX_AMOUNT_MINOR,
            )?;
        }
        self.total.validate_at(at.field("total"))
    }
}

impl Validate for OrderPaid {
    fn validate_at(&self, at: Path<'_>) -> Checked {
        self.customer.validate_at(at.field("customer"))?;
        identifier(at.field("payment_id"), &self.payment_id)?;
        self.amount.validate_at(at.field("amount"))
    }
}

impl Validate for OrderShipped {
    fn validate_at(&self, at: Path<'_>) -> Checked {
        self.customer.validate_at(at.field("customer"))?;
        text(at.field("carrier"), &self.carrier, 1, 100)?;
        text(at.field("tracking_number"), &self.tracking_number, 1, 100)
    }
}

impl Validate for OrderCancelled {
    fn validate_at(&self, at: Path<'_>) -> Checked {
        self.customer.validate_at(at.field("customer"))?;
        match &self.note {
            Some(note) => text(at.field("note"), note, 0, 500),
            None => Ok(()),
        }
    }
}

impl Validate for PaymentAuthorized {
    fn validate_at(&self, at: Path<'_>) -> Checked {
        identifier(at.field("payment_id"), &self.payment_id)?;
        self.amount.validate_at(at.field("amount"))?;
        identifier(at.field("provider"), &self.provider)?;
        text(
            at.field("authorization_code"),
            &self.authorization_code,
            1,
            100,
        )
    }
}

impl Validate for PaymentCaptured {
    fn validate_at(&self, at: Path<'_>) -> Checked {
        identifier(at.field("payment_id"), &self.payment_id)?;
        self.amount.validate_at(at.field("amount"))?;
        identifier(at.field("provider"), &self.provider)
    }
}

impl Validate for PaymentFailed {
    fn validate_at(&self, at: Path<'_>) -> Checked {
        identifier(at.field("payment_id"), &self.payment_id)?;
        self.amount.validate_at(at.field("amount"))?;
        identifier(at.field("provider"), &self.provider)?;
        self.customer.validate_at(at.field("customer"))?;
        identifier(at.field("failure_code"), &self.failure_code)?;
        text(at.field("failure_message"), &self.failure_message, 1, 500)
    }
}

impl Validate for PaymentRefunded {
    fn validate_at(&self, at: Path<'_>) -> Checked {
        identifier(at.field("payment_id"), &self.payment_id)?;
        identifier(at.field("refund_id"), &self.refund_id)?;
        self.amount.validate_at(at.field("amount"))?;
        identifier(at.field("provider"), &self.provider)
    }
}
