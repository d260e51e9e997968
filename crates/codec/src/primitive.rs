//! Whole request and response primitives as values (TS-0004 §8: the form
//! bindings without headers use, e.g. MQTT and WebSocket payloads): short
//! names at the top level, content under `pc`.

use serde_json::{json, Map, Value};
use urbis_model::primitive::ResponseTypeInfo;
use urbis_model::{CseError, CseResult, Operation, Request, Response, Rsc};

fn text(map: &Map<String, Value>, key: &str) -> CseResult<Option<String>> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(CseError::bad_request(format!(
            "{key} must be a string, got {other}"
        ))),
    }
}

fn number<T: TryFrom<u64>>(map: &Map<String, Value>, key: &str) -> CseResult<Option<T>> {
    let bad = || CseError::bad_request(format!("{key} must be a non-negative integer"));
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .and_then(|n| T::try_from(n).ok())
            .map(Some)
            .ok_or_else(bad),
        Some(Value::String(s)) => s
            .parse::<u64>()
            .ok()
            .and_then(|n| T::try_from(n).ok())
            .map(Some)
            .ok_or_else(bad),
        Some(_) => Err(bad()),
    }
}

/// A request primitive from its value form. Anything malformed is BAD_REQUEST.
pub fn request_from_value(value: &Value) -> CseResult<Request> {
    let map = value
        .as_object()
        .ok_or_else(|| CseError::bad_request("a request primitive must be an object"))?;
    let map = match map.get("m2m:rqp").and_then(Value::as_object) {
        Some(inner) => inner,
        None => map,
    };
    let op = number::<u8>(map, "op")?.ok_or_else(|| CseError::bad_request("op is missing"))?;
    let to = text(map, "to")?.ok_or_else(|| CseError::bad_request("to is missing"))?;
    let mut request = Request::new(Operation::from_code(i64::from(op))?, to);
    request.fr = text(map, "fr")?;
    request.rqi = text(map, "rqi")?.unwrap_or_default();
    request.rvi = text(map, "rvi")?;
    request.ty = number(map, "ty")?;
    request.pc = map.get("pc").filter(|v| !v.is_null()).cloned();
    request.rcn = number(map, "rcn")?;
    request.drt = number(map, "drt")?;
    request.ec = number(map, "ec")?;
    request.rqet = text(map, "rqet")?;
    request.rset = text(map, "rset")?;
    request.oet = text(map, "oet")?;
    request.ot = text(map, "ot")?;
    request.vsi = text(map, "vsi")?;
    if let Some(rt) = map.get("rt").and_then(Value::as_object) {
        let rtv = number::<u8>(rt, "rtv")?.unwrap_or(3);
        let nu = match rt.get("nu") {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        request.rt = Some(ResponseTypeInfo { rtv, nu });
    }
    if let Some(fc) = map.get("fc") {
        let fc = fc
            .as_object()
            .ok_or_else(|| CseError::bad_request("fc must be an object"))?;
        for (key, value) in fc {
            request.fc.set_value(key, value)?;
        }
    }
    if let Some(atrl) = map.get("atrl") {
        let list = atrl
            .as_array()
            .ok_or_else(|| CseError::bad_request("atrl must be a list"))?;
        request.atrl = list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect();
    }
    Ok(request)
}

/// The value form of a response primitive.
pub fn response_to_value(response: &Response) -> Value {
    let mut map = Map::new();
    map.insert("rsc".into(), json!(response.rsc.code()));
    map.insert("rqi".into(), json!(response.rqi));
    if let Some(rvi) = &response.rvi {
        map.insert("rvi".into(), json!(rvi));
    }
    if let Some(pc) = response.pc.as_ref().filter(|pc| !pc.is_null()) {
        map.insert("pc".into(), pc.clone());
    }
    for (key, value) in [
        ("ot", &response.ot),
        ("vsi", &response.vsi),
        ("rset", &response.rset),
    ] {
        if let Some(value) = value {
            map.insert(key.into(), json!(value));
        }
    }
    Value::Object(map)
}

/// The value form of a request primitive (for requests this CSE sends).
pub fn request_to_value(request: &Request) -> Value {
    let mut map = Map::new();
    map.insert("op".into(), json!(request.op.code()));
    map.insert("to".into(), json!(request.to));
    map.insert("rqi".into(), json!(request.rqi));
    for (key, value) in [
        ("fr", &request.fr),
        ("rvi", &request.rvi),
        ("ot", &request.ot),
        ("vsi", &request.vsi),
    ] {
        if let Some(value) = value {
            map.insert(key.into(), json!(value));
        }
    }
    if let Some(ty) = request.ty {
        map.insert("ty".into(), json!(ty));
    }
    if let Some(ec) = request.ec {
        map.insert("ec".into(), json!(ec));
    }
    if let Some(pc) = &request.pc {
        map.insert("pc".into(), pc.clone());
    }
    Value::Object(map)
}

/// A response primitive from its value form.
pub fn response_from_value(value: &Value) -> CseResult<Response> {
    let map = value
        .as_object()
        .ok_or_else(|| CseError::bad_request("a response primitive must be an object"))?;
    let map = match map.get("m2m:rsp").and_then(Value::as_object) {
        Some(inner) => inner,
        None => map,
    };
    let code = number::<u16>(map, "rsc")?.ok_or_else(|| CseError::bad_request("rsc is missing"))?;
    let rsc =
        Rsc::from_code(code).ok_or_else(|| CseError::bad_request(format!("unknown rsc {code}")))?;
    let mut response = Response::new(rsc, map.get("pc").filter(|v| !v.is_null()).cloned());
    response.rqi = text(map, "rqi")?.unwrap_or_default();
    response.rvi = text(map, "rvi")?;
    response.ot = text(map, "ot")?;
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip() {
        let value = json!({"op": 1, "to": "cse-in", "fr": "Cae", "rqi": "1", "rvi": "4", "ty": 3,
                           "pc": {"m2m:cnt": {"rn": "x"}}, "fc": {"ty": [3], "lbl": ["a"]}});
        let request = request_from_value(&value).unwrap();
        assert_eq!(request.op, Operation::Create);
        assert_eq!(request.ty, Some(3));
        assert_eq!(request.fc.ty, vec![3]);
        let back = request_from_value(&request_to_value(&request)).unwrap();
        assert_eq!(back.pc, request.pc);
        assert_eq!(back.rqi, "1");
    }

    #[test]
    fn malformed_requests_are_bad_requests() {
        for bad in [
            json!([]),
            json!({"to": "x"}),
            json!({"op": 9, "to": "x"}),
            json!({"op": "x", "to": "y"}),
            json!({"op": 2}),
            json!({"op": 2, "to": "x", "fc": 3}),
            json!({"op": 2, "to": {}}),
        ] {
            assert_eq!(
                request_from_value(&bad).unwrap_err().rsc,
                Rsc::BadRequest,
                "{bad}"
            );
        }
    }

    #[test]
    fn response_round_trip() {
        let mut response = Response::new(Rsc::Created, Some(json!({"m2m:cnt": {}})));
        response.rqi = "7".into();
        let back = response_from_value(&response_to_value(&response)).unwrap();
        assert_eq!(back.rsc, Rsc::Created);
        assert_eq!(back.rqi, "7");
    }
}
