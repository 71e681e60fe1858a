//! Broken examples for the tests of this crate: a valid event's JSON with one edit applied.

use serde_json::Value;

/// A broken example: a JSON pointer into a valid event and what to do there.
pub enum Edit {
    /// Put this value at the pointer (adding the field, or replacing the value or element).
    Set(&'static str, Value),
    /// Remove the field at the pointer.
    Remove(&'static str),
}

/// `v` with `edit` made; panics when the pointer does not fit `v` (a bug in the test).
pub fn apply(mut v: Value, edit: &Edit) -> Value {
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
