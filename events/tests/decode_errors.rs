//! Decoding errors say what is wrong and where (reason code, dotted path) on both decode paths,
//! and publish input fills in the envelope but checks everything it is given.

use events::{EventType, samples::Generator};
use serde_json::{Value, json};

mod support;
use support::{Edit, apply};

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

/// `serde_json::Value` sorts keys, so the tests that edit a `Value` put `data` before `event_type` and take
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
    let events::EventData::OrderCreated(order) = &sample.data else {
        panic!("an order.created sample: {sample:?}");
    };
    let quantity = format!("\"quantity\":{}", order.items[0].quantity);
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
