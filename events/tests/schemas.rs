//! Code and schemas cannot drift: every event the code builds validates against its JSON Schema,
//! and each schema and the Rust decoder both reject the same set of broken examples.

use std::path::PathBuf;

use events::{EventType, samples::Generator};
use jsonschema::{Registry, Validator};
use serde_json::{Value, json};

mod support;
use support::{Edit, apply};

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

fn load(name: &str) -> Value {
    let path = schema_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn validator(t: EventType) -> Validator {
    let common = load("common.v1.json");
    let registry = Registry::new()
        .add("https://orderbus.dev/schemas/common.v1.json", common)
        .and_then(|r| r.prepare())
        .expect("registry");
    let schema = load(t.schema_file());
    jsonschema::options()
        .should_validate_formats(true)
        .with_registry(&registry)
        .build(&schema)
        .unwrap_or_else(|e| panic!("{t}: schema does not compile: {e}"))
}

#[test]
fn there_is_exactly_one_schema_per_event_type_and_version() {
    let mut files: Vec<String> = std::fs::read_dir(schema_dir())
        .expect("schemas/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n != "common.v1.json")
        .collect();
    files.sort();
    let mut expected: Vec<String> = EventType::ALL
        .iter()
        .flat_map(|t| {
            t.supported_versions()
                .iter()
                .map(move |v| format!("{}.v{v}.json", t.as_str()))
        })
        .collect();
    expected.sort();
    assert_eq!(files, expected);
}

#[test]
fn each_schema_names_its_event_type_and_version() {
    for t in EventType::ALL {
        let schema = load(t.schema_file());
        let v = t.current_version();
        let id = format!("https://orderbus.dev/schemas/{}", t.schema_file());
        assert_eq!(schema["$id"], json!(id), "{t}");
        assert_eq!(schema["title"], json!(format!("{t} v{v}")), "{t}");
        let properties = &schema["properties"];
        assert_eq!(properties["event_type"]["const"], json!(t.as_str()), "{t}");
        assert_eq!(properties["schema_version"]["const"], json!(v), "{t}");
    }
}

#[test]
fn currency_enum_matches_the_code_table() {
    let common = load("common.v1.json");
    let listed: Vec<&str> = common["$defs"]["currency"]["enum"]
        .as_array()
        .expect("enum")
        .iter()
        .map(|v| v.as_str().expect("string"))
        .collect();
    let table: Vec<&str> = events::money::ISO_4217.iter().map(|(c, _)| *c).collect();
    assert_eq!(listed, table);
}

#[test]
fn every_event_the_code_builds_validates_against_its_schema() {
    let validators: Vec<(EventType, Validator)> =
        EventType::ALL.iter().map(|t| (*t, validator(*t))).collect();
    let mut generator = Generator::new(11, "schema-test");
    let mut seen = std::collections::BTreeMap::new();
    let events = (0..2_000).flat_map(|n| generator.order_flow(n)).chain(
        EventType::ALL
            .iter()
            .map(|t| Generator::new(3, "x").one(*t, 9)),
    );
    for event in events {
        let bytes = event.encode().expect("generated events are valid");
        let value: Value = serde_json::from_slice(&bytes).expect("json");
        let (_, v) = validators
            .iter()
            .find(|(t, _)| *t == event.event_type())
            .expect("validator");
        let errors: Vec<String> = v.iter_errors(&value).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{value}\n{errors:?}");
        *seen.entry(event.event_type()).or_insert(0) += 1;
        // And the decoder reads back exactly what was encoded.
        assert_eq!(events::decode(&bytes).expect("decodes"), event);
    }
    assert_eq!(
        seen.len(),
        EventType::ALL.len(),
        "every type exercised: {seen:?}"
    );
}

fn envelope_edits() -> Vec<Edit> {
    use Edit::*;
    vec![
        Remove("/event_id"),
        Remove("/event_type"),
        Remove("/schema_version"),
        Remove("/occurred_at"),
        Remove("/order_id"),
        Remove("/producer"),
        Remove("/data"),
        Set("/extra", json!(1)),
        Set("/event_id", json!("not-a-uuid")),
        Set("/event_id", json!("0b6a3b2e-9a4f-4c1b-8f6e-2d3c4b5a6978")), // v4, not v7
        Set("/schema_version", json!(2)),
        Set("/schema_version", json!("1")),
        Set("/occurred_at", json!("yesterday")),
        Set("/occurred_at", json!(1_700_000_000)),
        Set("/order_id", json!("")),
        Set("/order_id", json!("has space")),
        Set("/order_id", json!("x".repeat(65))),
        Set("/order_id", json!(42)),
        Set("/producer", json!("")),
        Set("/data", json!([])),
        Set("/data/extra", json!(true)),
        // serde would read a struct from a positional array; the contract says object.
        Set("/data/customer", json!(["cus_1"])),
        Set("/data/amount", json!([100, "USD"])),
        Set("/data/total", json!([100, "USD"])),
    ]
}

/// Broken money at `p`: not an object, bad or missing currency, amount out of range or mistyped.
fn money_edits(p: &'static str) -> Vec<Edit> {
    use Edit::*;
    vec![
        Set(p, json!(12.5)),
        Remove(leak(format!("{p}/currency"))),
        Set(leak(format!("{p}/currency")), json!("usd")),
        Set(leak(format!("{p}/currency")), json!("XYZ")),
        Set(leak(format!("{p}/amount_minor")), json!(-1)),
        Set(
            leak(format!("{p}/amount_minor")),
            json!(9_007_199_254_740_992_i64),
        ),
        Set(leak(format!("{p}/amount_minor")), json!("100")),
        Set(leak(format!("{p}/fx")), json!(1)),
    ]
}

/// A broken or missing `data.customer`.
fn customer_edits() -> Vec<Edit> {
    use Edit::*;
    vec![
        Remove("/data/customer"),
        Remove("/data/customer/customer_id"),
        Set("/data/customer/email", json!("not-an-email")),
        Set("/data/customer/email", json!("a b@example.com")),
        Set("/data/customer/phone", json!("555-0100")),
        Set("/data/customer/phone", json!("+0123456789")),
        Set("/data/customer/age", json!(30)),
    ]
}

/// The broken examples of each type's `data` (no catch-all: a new type must bring its own).
fn data_edits(t: EventType) -> Vec<Edit> {
    use Edit::*;
    let (mut edits, money, customer) = match t {
        EventType::OrderCreated => (
            vec![
                Set("/data/items", json!([])),
                Set("/data/items/0/quantity", json!(0)),
                Set("/data/items/0/quantity", json!(10_001)),
                Set("/data/items/0/quantity", json!(-2)),
                Set("/data/items/0/sku", json!("")),
                Set("/data/items/0/name", json!("")),
                Remove("/data/items/0/unit_price_minor"),
                Set("/data/payment_method", json!("iou")),
                Remove("/data/payment_method"),
            ],
            Some("/data/total"),
            true,
        ),
        EventType::OrderPaid => (
            vec![
                Remove("/data/payment_id"),
                Set("/data/payment_id", json!(7)),
            ],
            Some("/data/amount"),
            true,
        ),
        EventType::OrderShipped => (
            vec![
                Remove("/data/carrier"),
                Set("/data/tracking_number", json!("")),
                Set("/data/carrier", json!("c".repeat(101))),
            ],
            None,
            true,
        ),
        EventType::OrderCancelled => (
            vec![
                Set("/data/reason", json!("bored")),
                Remove("/data/reason"),
                Set("/data/note", json!("n".repeat(501))),
            ],
            None,
            true,
        ),
        EventType::PaymentAuthorized => (
            vec![
                Remove("/data/authorization_code"),
                Set("/data/provider", json!("")),
            ],
            Some("/data/amount"),
            false,
        ),
        EventType::PaymentCaptured => (vec![Remove("/data/provider")], Some("/data/amount"), false),
        EventType::PaymentFailed => (
            vec![
                Set("/data/failure_message", json!("")),
                Set("/data/failure_code", json!("card declined")),
            ],
            Some("/data/amount"),
            true,
        ),
        EventType::PaymentRefunded => {
            (vec![Remove("/data/refund_id")], Some("/data/amount"), false)
        }
    };
    edits.extend(money.into_iter().flat_map(money_edits));
    if customer {
        edits.extend(customer_edits());
    }
    // Another type's name on this type's data.
    let other = if t == EventType::OrderCreated {
        EventType::PaymentCaptured
    } else {
        EventType::OrderCreated
    };
    edits.push(Set("/event_type", json!(other.as_str())));
    edits.push(Set("/event_type", json!("order.exploded")));
    edits
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

#[test]
fn schemas_and_decoder_reject_the_same_broken_examples() {
    let mut checked = 0;
    for t in EventType::ALL {
        let v = validator(t);
        let mut sample = Generator::new(5, "schema-test").one(t, 1);
        // Give optional fields a value so edits of them have something to break.
        if let events::EventData::OrderCancelled(c) = &mut sample.data {
            c.note = Some("ok".into());
        }
        let good: Value = serde_json::from_slice(&sample.encode().expect("valid")).expect("json");
        assert!(v.is_valid(&good), "{t}: the base example must be valid");
        for edit in envelope_edits().iter().chain(data_edits(t).iter()) {
            let bad = apply(good.clone(), edit);
            let text = bad.to_string();
            assert!(!v.is_valid(&bad), "{t}: schema accepts {text}");
            let err = events::decode(text.as_bytes())
                .err()
                .unwrap_or_else(|| panic!("{t}: decoder accepts {text}"));
            assert!(!err.to_string().is_empty());
            checked += 1;
        }
    }
    assert!(checked > 300, "only {checked} broken examples ran");
    println!("{checked} broken examples rejected by schema and decoder");
}
