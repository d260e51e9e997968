//! Property: a resource-like value (short names from the XML schema table,
//! each with a value of its kind) survives JSON ⇄ CBOR ⇄ XML unchanged.
//!
//! The generator stays inside what all three can say (docs/serializations.md,
//! known gaps): no empty strings, lists or objects (XML reads an empty element
//! as NULL) and no single-item lists of names the table does not know.

use proptest::prelude::*;
use serde_json::{Map, Number, Value};
use urbis_codec::xml::schema::{self, Kind};
use urbis_codec::{decode, encode};
use urbis_model::Serialization;

/// Names a resource or complex value may hold: the table's plain lines.
fn names() -> Vec<&'static str> {
    schema::entries()
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| !name.contains(':') && !name.contains('/'))
        // `rep` and `pc` hold whole resources; `con` is covered by `opaque()`
        .filter(|name| !matches!(*name, "rep" | "pc" | "con"))
        .collect()
}

fn text() -> impl Strategy<Value = String> {
    // any characters XML 1.0 can carry, including markup and white space
    "[a-zA-Z0-9 <>&'\"\t\r\n/:.,ü€-]{1,12}"
}

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9/_.:-]{1,10}"
}

fn number() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter_map("finite", Number::from_f64)
            .prop_map(Value::Number),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        text().prop_map(Value::String),
        number(),
        any::<bool>().prop_map(Value::Bool),
    ]
}

/// Application data under names nobody types: scalars (typed by xsi:type),
/// nested objects, lists of two or more.
fn opaque(depth: u32) -> BoxedStrategy<Value> {
    let leaf = scalar().boxed();
    if depth == 0 {
        return leaf;
    }
    prop_oneof![
        2 => leaf,
        1 => prop::collection::btree_map("[a-z][a-z0-9]{0,5}", opaque(depth - 1), 1..4)
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        1 => prop::collection::vec(scalar(), 2..4).prop_map(Value::Array),
    ]
    .boxed()
}

fn reference() -> impl Strategy<Value = Value> {
    (token(), 1u32..70000, token())
        .prop_map(|(nm, typ, val)| serde_json::json!({"nm": nm, "typ": typ, "val": val}))
}

/// A value of `kind` for a member named `name` inside `parent`.
fn member(kind: Kind, name: &'static str, depth: u32) -> BoxedStrategy<Value> {
    let nullable = |s: BoxedStrategy<Value>| prop_oneof![9 => s, 1 => Just(Value::Null)].boxed();
    match kind {
        Kind::Str => nullable(text().prop_map(Value::String).boxed()),
        Kind::Num => nullable(number().boxed()),
        Kind::Bool => nullable(any::<bool>().prop_map(Value::Bool).boxed()),
        Kind::StrList => nullable(
            prop::collection::vec(token().prop_map(Value::String), 1..4)
                .prop_map(Value::Array)
                .boxed(),
        ),
        Kind::NumList => prop::collection::vec(number(), 1..4)
            .prop_map(Value::Array)
            .boxed(),
        Kind::StrRepeated => prop::collection::vec(text().prop_map(Value::String), 1..4)
            .prop_map(Value::Array)
            .boxed(),
        Kind::NumRepeated => prop::collection::vec(number(), 1..4)
            .prop_map(Value::Array)
            .boxed(),
        Kind::Object | Kind::Any if depth > 0 => object(name, depth - 1),
        Kind::ObjectList if depth > 0 => prop::collection::vec(object(name, depth - 1), 1..3)
            .prop_map(Value::Array)
            .boxed(),
        // too deep for members: items that are plain text
        Kind::ObjectList => prop::collection::vec(token().prop_map(Value::String), 1..3)
            .prop_map(Value::Array)
            .boxed(),
        Kind::Ref => reference().boxed(),
        Kind::RefList => prop::collection::vec(reference(), 1..3)
            .prop_map(Value::Array)
            .boxed(),
        Kind::Opaque => opaque(depth).boxed(),
        Kind::Content if depth > 0 => resource(depth - 1)
            .prop_map(|r| serde_json::json!({"m2m:cin": r}))
            .boxed(),
        // too deep for complex values, or not a member kind: plain text
        _ => scalar().prop_map(|v| Value::String(v.to_string())).boxed(),
    }
}

/// Members of an element named `parent`, typed by the table in that place.
fn members(parent: &'static str, depth: u32) -> BoxedStrategy<Map<String, Value>> {
    let names = names();
    prop::collection::vec(prop::sample::select(names), 1..6)
        .prop_flat_map(move |picked| {
            let strategies: Vec<BoxedStrategy<(String, Value)>> = picked
                .into_iter()
                .map(|name| {
                    let kind = schema::kind_in(Some(parent), name).unwrap_or(Kind::Str);
                    member(kind, name, depth)
                        .prop_map(move |v| (name.to_owned(), v))
                        .boxed()
                })
                .collect();
            strategies
        })
        .prop_map(|pairs| pairs.into_iter().collect())
        .boxed()
}

fn object(parent: &'static str, depth: u32) -> BoxedStrategy<Value> {
    members(parent, depth).prop_map(Value::Object).boxed()
}

/// A resource: known attributes, maybe `rn`, custom attributes and child resources.
fn resource(depth: u32) -> BoxedStrategy<Value> {
    let children = if depth > 0 {
        prop::option::of(prop::collection::vec(resource(depth - 1), 1..3)).boxed()
    } else {
        Just(None).boxed()
    };
    (
        members("m2m:cin", depth),
        prop::option::of(text()),
        prop::option::of(opaque(1)),
        children,
    )
        .prop_map(|(mut map, rn, custom, children)| {
            if let Some(rn) = rn {
                map.insert("rn".into(), Value::String(rn));
            }
            if let Some(custom) = custom {
                map.insert("customAttr".into(), custom);
            }
            if let Some(children) = children {
                map.insert("m2m:cnt".into(), Value::Array(children));
            }
            Value::Object(map)
        })
        .boxed()
}

fn through(value: &Value, serialization: Serialization) -> Value {
    let bytes = encode(value, serialization)
        .unwrap_or_else(|e| panic!("{serialization:?} encode: {}: {value}", e.message));
    decode(&bytes, serialization).unwrap_or_else(|e| {
        panic!(
            "{serialization:?} decode: {}: {}",
            e.message,
            String::from_utf8_lossy(&bytes)
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn resources_survive_json_cbor_and_xml(resource in resource(2), root in "m2m:(cin|cnt|ae)|cod:tempe") {
        let value = serde_json::json!({root: resource});
        for serialization in [Serialization::Json, Serialization::Cbor, Serialization::Xml] {
            prop_assert_eq!(&through(&value, serialization), &value, "{:?}", serialization);
        }
        let chained = through(
            &through(&through(&value, Serialization::Xml), Serialization::Cbor),
            Serialization::Json,
        );
        prop_assert_eq!(chained, value);
    }

    #[test]
    fn primitives_survive_json_cbor_and_xml(
        mut primitive in members("m2m:rqp", 2),
        op in 1u8..6,
        content in resource(1),
    ) {
        primitive.insert("op".into(), Value::from(op));
        primitive.insert("pc".into(), serde_json::json!({"m2m:cnt": content}));
        let value = Value::Object(primitive);
        for serialization in [Serialization::Json, Serialization::Cbor, Serialization::Xml] {
            prop_assert_eq!(&through(&value, serialization), &value, "{:?}", serialization);
        }
    }
}
