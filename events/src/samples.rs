//! Realistic sample events: whole order lifecycles for the demo, benchmarks, load tools and
//! tests, and one standalone sample of every event type (`Generator::standalone_data`, where a
//! new type's sample goes). Deterministic for a given seed, so a run can be repeated.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::envelope::{Envelope, EventData, EventType};
use crate::money::{Currency, Money};
use crate::payload::{
    CancelReason, Customer, LineItem, OrderCancelled, OrderCreated, OrderPaid, OrderShipped,
    PaymentAuthorized, PaymentCaptured, PaymentFailed, PaymentMethod, PaymentRefunded,
};

const PRODUCTS: &[(&str, &str, i64)] = &[
    ("SKU-1001", "Espresso beans 1kg", 2_450),
    ("SKU-1002", "Pour-over kettle", 5_900),
    ("SKU-1003", "Ceramic mug", 1_200),
    ("SKU-1004", "Burr grinder", 14_900),
    ("SKU-1005", "Paper filters x100", 650),
    ("SKU-1006", "Milk frother", 3_999),
];
const CURRENCIES: &[&str] = &["USD", "EUR", "GBP", "JPY"];
const CARRIERS: &[&str] = &["DHL", "UPS", "FedEx", "Royal Mail"];

/// Generates order lifecycles: created → authorized → captured → paid → shipped, with some
/// declined payments (failed → cancelled) and some refunds.
#[derive(Debug)]
pub struct Generator {
    rng: StdRng,
    producer: String,
}

impl Generator {
    /// A generator whose events name `producer`, repeatable for `seed`.
    pub fn new(seed: u64, producer: impl Into<String>) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            producer: producer.into(),
        }
    }

    /// A customer with an e-mail address and usually a phone number.
    pub fn customer(&mut self, n: u64) -> Customer {
        Customer {
            customer_id: format!("cus_{n:06}"),
            email: Some(format!("customer{n}@example.com")),
            phone: self
                .rng
                .random_bool(0.8)
                .then(|| format!("+1415555{:04}", n % 10_000)),
        }
    }

    /// The events of one order, in the order they happen.
    pub fn order_flow(&mut self, n: u64) -> Vec<Envelope> {
        let order_id = format!("ord_{n:08}");
        let customer = self.customer(n % 5_000);
        let currency = pick(&mut self.rng, CURRENCIES);
        let currency = Currency::new(currency).unwrap_or_else(|_| unreachable_currency());
        let items = self.items(currency);
        let total = Money::new(
            items
                .iter()
                .map(|i| i.unit_price_minor * i64::from(i.quantity))
                .sum(),
            currency,
        );
        let payment_id = format!("pay_{n:08}");
        let provider = "stripe".to_owned();
        let mut out = vec![self.event(
            &order_id,
            OrderCreated {
                customer: customer.clone(),
                items,
                total,
                payment_method: PaymentMethod::Card,
            },
        )];
        if self.rng.random_bool(0.08) {
            self.declined(&mut out, &order_id, customer, payment_id, total);
            return out;
        }
        out.push(self.event(
            &order_id,
            PaymentAuthorized {
                payment_id: payment_id.clone(),
                amount: total,
                provider: provider.clone(),
                authorization_code: format!("auth_{n:08}"),
            },
        ));
        out.push(self.event(
            &order_id,
            PaymentCaptured {
                payment_id: payment_id.clone(),
                amount: total,
                provider: provider.clone(),
            },
        ));
        out.push(self.event(
            &order_id,
            OrderPaid {
                customer: customer.clone(),
                payment_id: payment_id.clone(),
                amount: total,
            },
        ));
        let carrier = pick(&mut self.rng, CARRIERS);
        out.push(self.event(
            &order_id,
            OrderShipped {
                customer,
                carrier: carrier.into(),
                tracking_number: format!("TRK{n:010}"),
            },
        ));
        if self.rng.random_bool(0.05) {
            out.push(self.event(
                &order_id,
                PaymentRefunded {
                    payment_id,
                    refund_id: format!("re_{n:08}"),
                    amount: total,
                    provider,
                },
            ));
        }
        out
    }

    /// One to three order lines from the product list, priced in `currency`.
    fn items(&mut self, currency: Currency) -> Vec<LineItem> {
        let lines = self.rng.random_range(1..=3);
        (0..lines)
            .map(|_| {
                let (sku, name, price) = PRODUCTS[self.rng.random_range(0..PRODUCTS.len())];
                let price = if currency.minor_units() == 0 {
                    price / 100 * 15
                } else {
                    price
                };
                LineItem {
                    sku: sku.into(),
                    name: name.into(),
                    quantity: self.rng.random_range(1..=4),
                    unit_price_minor: price,
                }
            })
            .collect()
    }

    /// The end of a flow whose card is declined: the payment fails, the order is cancelled.
    fn declined(
        &mut self,
        out: &mut Vec<Envelope>,
        order_id: &str,
        customer: Customer,
        payment_id: String,
        amount: Money,
    ) {
        out.push(self.event(
            order_id,
            PaymentFailed {
                payment_id,
                amount,
                provider: "stripe".into(),
                customer: customer.clone(),
                failure_code: "card_declined".into(),
                failure_message: "Your card was declined.".into(),
            },
        ));
        out.push(self.event(
            order_id,
            OrderCancelled {
                customer,
                reason: CancelReason::PaymentFailed,
                note: None,
            },
        ));
    }

    /// One valid event of the given type: taken from an order lifecycle when the flow has one,
    /// otherwise built from the type's sample in `standalone_data`.
    pub fn one(&mut self, event_type: EventType, n: u64) -> Envelope {
        let mut flow = self.order_flow(n);
        if let Some(e) = flow.iter().position(|e| e.event_type() == event_type) {
            return flow.swap_remove(e);
        }
        // The random flow skipped this type (e.g. a refund), or lifecycles never hold it.
        let data = self.standalone_data(event_type, n);
        Envelope::new(format!("ord_{n:08}"), self.producer.clone(), data)
    }

    /// The sample `data` of every event type, on its own: the one place a new type's sample
    /// goes (the `match` has no catch-all, so the compiler asks for it).
    fn standalone_data(&mut self, event_type: EventType, n: u64) -> EventData {
        let customer = self.customer(n);
        let amount = Money::new(
            4_200,
            Currency::new("EUR").unwrap_or_else(|_| unreachable_currency()),
        );
        let payment_id = format!("pay_{n:08}");
        let provider = "stripe".to_owned();
        match event_type {
            EventType::OrderCreated => OrderCreated {
                customer,
                items: vec![LineItem {
                    sku: "SKU-1".into(),
                    name: "Thing".into(),
                    quantity: 1,
                    unit_price_minor: 4_200,
                }],
                total: amount,
                payment_method: PaymentMethod::Card,
            }
            .into(),
            EventType::OrderPaid => OrderPaid {
                customer,
                payment_id,
                amount,
            }
            .into(),
            EventType::OrderShipped => OrderShipped {
                customer,
                carrier: "DHL".into(),
                tracking_number: "TRK1".into(),
            }
            .into(),
            EventType::OrderCancelled => OrderCancelled {
                customer,
                reason: CancelReason::CustomerRequest,
                note: Some("changed my mind".into()),
            }
            .into(),
            EventType::PaymentAuthorized => PaymentAuthorized {
                payment_id,
                amount,
                provider,
                authorization_code: "auth_1".into(),
            }
            .into(),
            EventType::PaymentCaptured => PaymentCaptured {
                payment_id,
                amount,
                provider,
            }
            .into(),
            EventType::PaymentFailed => PaymentFailed {
                payment_id,
                amount,
                provider,
                customer,
                failure_code: "card_declined".into(),
                failure_message: "Your card was declined.".into(),
            }
            .into(),
            EventType::PaymentRefunded => PaymentRefunded {
                payment_id,
                refund_id: format!("re_{n:08}"),
                amount,
                provider,
            }
            .into(),
        }
    }

    fn event(&mut self, order_id: &str, data: impl Into<EventData>) -> Envelope {
        Envelope::new(order_id, self.producer.clone(), data)
    }
}

fn pick<'a>(rng: &mut StdRng, from: &[&'a str]) -> &'a str {
    from[rng.random_range(0..from.len())]
}

// The currency lists above are literals from the ISO table; a miss is a bug in this file.
fn unreachable_currency() -> Currency {
    unreachable!("sample currencies are all in the ISO 4217 table")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_generated_event_is_valid_and_every_type_can_be_made() {
        let mut g = Generator::new(7, "test");
        for n in 0..500 {
            for e in g.order_flow(n) {
                e.validate().unwrap_or_else(|err| panic!("{err}: {e:?}"));
            }
        }
        for t in EventType::ALL {
            let e = g.one(t, 1);
            assert_eq!(e.event_type(), t);
            assert!(e.validate().is_ok());
        }
    }
}
