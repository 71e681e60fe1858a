//! Code and schemas cannot drift: every event the code builds validates against its JSON Schema,
//! and each schema and the Rust decoder both reject the same set of broken examples.

use std::path::PathBuf;

use events::{EventType, samples::Generator};
use jsonschema::{Registry, Validator};
use serde_json::{Value, json};

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
    let schema = load(&format!("{}.v1.json", t.as_str()));
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
    assert_eq!(seen.len(), 8, "every type exercised: {seen:?}");
}

/// A broken example: a JSON pointer into a valid event and what to do there.
enum Edit {
    Set(&'static str, Value),
    Remove(&'static str),
}

fn apply(mut v: Value, edit: &Edit) -> Value {
    match edit {
        Edit::Set(ptr, new) => {
            let (parent, key) = ptr.rsplit_once('/').expect("pointer");
            let target = v.pointer_mut(parent).expect("parent exists");
            match target {
                Value::Object(m) => {
                    m.insert(key.to_owned(), new.clone());
                }
                Value::Array(a) => a[key.parse::<usize>().expect("index")] = new.clone(),
                _ => panic!("{ptr}: parent is not a container"),
            }
        }
        Edit::Remove(ptr) => {
            let (parent, key) = ptr.rsplit_once('/').expect("pointer");
            let target = v.pointer_mut(parent).expect("parent exists");
            target
                .as_object_mut()
                .expect("object")
                .remove(key)
                .expect("present");
        }
    }
    v
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

fn data_edits(t: EventType) -> Vec<Edit> {
    use Edit::*;
    let money = |p: &'static str| -> Vec<Edit> {
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
    };
    let customer = || -> Vec<Edit> {
        vec![
            Remove("/data/customer"),
            Remove("/data/customer/customer_id"),
            Set("/data/customer/email", json!("not-an-email")),
            Set("/data/customer/email", json!("a b@example.com")),
            Set("/data/customer/phone", json!("555-0100")),
            Set("/data/customer/phone", json!("+0123456789")),
            Set("/data/customer/age", json!(30)),
        ]
    };
    let mut edits = match t {
        EventType::OrderCreated => {
            let mut e = vec![
                Set("/data/items", json!([])),
                Set("/data/items/0/quantity", json!(0)),
                Set("/data/items/0/quantity", json!(10_001)),
                Set("/data/items/0/quantity", json!(-2)),
                Set("/data/items/0/sku", json!("")),
                Set("/data/items/0/name", json!("")),
                Remove("/data/items/0/unit_price_minor"),
                Set("/data/payment_method", json!("iou")),
                Remove("/data/payment_method"),
            ];
            e.extend(money("/data/total"));
            e.extend(customer());
            e
        }
        EventType::OrderPaid => {
            let mut e = vec![
                Remove("/data/payment_id"),
                Set("/data/payment_id", json!(7)),
            ];
            e.extend(money("/data/amount"));
            e.extend(customer());
            e
        }
        EventType::OrderShipped => {
            let mut e = vec![
                Remove("/data/carrier"),
                Set("/data/tracking_number", json!("")),
                Set("/data/carrier", json!("c".repeat(101))),
            ];
            e.extend(customer());
            e
        }
        EventType::OrderCancelled => {
            let mut e = vec![
                Set("/data/reason", json!("bored")),
                Remove("/data/reason"),
                Set("/data/note", json!("n".repeat(501))),
            ];
            e.extend(customer());
            e
        }
        EventType::PaymentAuthorized => vec![
            Remove("/data/authorization_code"),
            Set("/data/provider", json!("")),
        ],
        EventType::PaymentCaptured => vec![Remove("/data/provider")],
        EventType::PaymentFailed => {
            let mut e = vec![
                Set("/data/failure_message", json!("")),
                Set("/data/failure_code", json!("card declined")),
            ];
            e.extend(customer());
            e
        }
        EventType::PaymentRefunded => vec![Remove("/data/refund_id")],
    };
    if !matches!(
        t,
        EventType::OrderCreated | EventType::OrderShipped | EventType::OrderCancelled
    ) {
        edits.extend(money("/data/amount"));
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

#[test]
fn decode_errors_name_the_problem_and_the_path() {
    let sample = Generator::new(5, "t").one(EventType::OrderCreated, 1);
    let good: Value = serde_json::from_slice(&sample.encode().expect("valid")).expect("json");
    let decode = |v: &Value| events::decode(v.to_string().as_bytes()).expect_err("broken");

    assert_eq!(
        events::decode(b"\xff\xfe{}"),
        Err(events::Error::NotUtf8 { valid_up_to: 0 })
    );
    assert!(matches!(
        events::decode(b"{\"event_id\": "),
        Err(events::Error::NotJson { .. })
    ));
    let trailing = format!("{good} trailing");
    assert!(matches!(
        events::decode(trailing.as_bytes()),
        Err(events::Error::NotJson { .. })
    ));
    assert_eq!(
        decode(&apply(good.clone(), &Edit::Remove("/data/total/currency"))),
        events::Error::MissingField {
            path: "data.total.currency".into()
        }
    );
    assert_eq!(
        decode(&apply(good.clone(), &Edit::Remove("/order_id"))),
        events::Error::MissingField {
            path: "order_id".into()
        }
    );
    assert_eq!(
        decode(&apply(
            good.clone(),
            &Edit::Set("/data/items/0/colour", json!("red"))
        )),
        events::Error::UnknownField {
            path: "data.items[0].colour".into()
        }
    );
    let e = decode(&apply(
        good.clone(),
        &Edit::Set("/data/items/0/quantity", json!("two")),
    ));
    assert_eq!(e.path(), Some("data.items[0].quantity"), "{e}");
    assert_eq!(e.reason_code(), "invalid_field");
    let e = decode(&apply(
        good.clone(),
        &Edit::Set("/data/items/0/quantity", json!(0)),
    ));
    assert_eq!(e.path(), Some("data.items[0].quantity"), "{e}");
    let e = decode(&apply(
        good.clone(),
        &Edit::Set("/data/total/currency", json!("XYZ")),
    ));
    assert_eq!(e.path(), Some("data.total.currency"), "{e}");
    assert!(e.to_string().contains("ISO 4217"), "{e}");
    assert_eq!(
        decode(&apply(
            good.clone(),
            &Edit::Set("/event_type", json!("order.exploded"))
        )),
        events::Error::UnknownEventType("order.exploded".into())
    );
    let e = decode(&apply(
        good.clone(),
        &Edit::Set("/schema_version", json!(9)),
    ));
    assert_eq!(e.reason_code(), "unsupported_schema_version", "{e}");
    assert!(e.to_string().contains("order.created"), "{e}");
    let e = decode(&json!([1, 2]));
    assert_eq!(e.path(), Some("(root)"), "{e}");
    // A positional array holding every field in order is still not an object.
    let positional: Vec<Value> = good
        .as_object()
        .expect("object")
        .values()
        .cloned()
        .collect();
    let e = decode(&Value::Array(positional));
    assert_eq!(e.path(), Some("(root)"), "{e}");
    let e = decode(&apply(
        good.clone(),
        &Edit::Set("/data/total", json!([100, "USD"])),
    ));
    assert_eq!(e.path(), Some("data.total"), "{e}");
}

#[test]
fn publish_input_fills_the_envelope_but_checks_what_is_given() {
    let data = serde_json::to_value(&Generator::new(1, "t").one(EventType::OrderPaid, 3).data)
        .expect("json");
    let partial = json!({"event_type": "order.paid", "order_id": "ord_1", "data": data});
    let e = events::decode_publish_input(&partial.to_string(), "cli").expect("fills");
    assert_eq!(e.producer, "cli");
    assert_eq!(e.event_id.get_version_num(), 7);
    let mut wrong = partial.clone();
    wrong["schema_version"] = json!(3);
    assert_eq!(
        events::decode_publish_input(&wrong.to_string(), "cli")
            .expect_err("bad version")
            .reason_code(),
        "unsupported_schema_version"
    );
    let mut missing = partial;
    missing.as_object_mut().expect("object").remove("order_id");
    assert_eq!(
        events::decode_publish_input(&missing.to_string(), "cli"),
        Err(events::Error::MissingField {
            path: "order_id".into()
        })
    );
}

/// `serde_json::Value` sorts keys, so the tests above put `data` before `event_type` and take
/// the two-pass path. These edit the encoder's own output, where `data` comes last and is
/// decoded in a single pass, and check that errors are located the same way.
#[test]
fn single_pass_decoding_locates_errors_too() {
    let sample = Generator::new(5, "t").one(EventType::OrderCreated, 1);
    let text = String::from_utf8(sample.encode().expect("valid")).expect("utf8");
    assert!(
        text.find("\"event_type\"") < text.find("\"data\""),
        "{text}"
    );
    let quantity = format!(
        "\"quantity\":{}",
        match &sample.data {
            events::EventData::OrderCreated(o) => o.items[0].quantity,
            _ => unreachable!(),
        }
    );
    let broken = text.replacen(&quantity, "\"quantity\":\"two\"", 1);
    let e = events::decode(broken.as_bytes()).expect_err("broken");
    assert_eq!(e.path(), Some("data.items[0].quantity"), "{e}");
    let broken = text.replacen("\"currency\":", "\"currencyy\":", 1);
    let e = events::decode(broken.as_bytes()).expect_err("broken");
    assert_eq!(e.reason_code(), "unknown_field", "{e}");
    assert_eq!(e.path(), Some("data.total.currencyy"), "{e}");
    let broken = text.replacen("\"order_id\":", "\"order_idd\":", 1);
    let e = events::decode(broken.as_bytes()).expect_err("broken");
    assert_eq!(e.reason_code(), "unknown_field", "{e}");
    let twice = text.replacen("\"producer\":", "\"order_id\":\"x\",\"producer\":", 1);
    let e = events::decode(twice.as_bytes()).expect_err("duplicate");
    assert!(e.to_string().contains("duplicate field"), "{e}");
}
