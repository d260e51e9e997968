//! Target addresses and request parameters as they travel in URIs: the HTTP
//! path and query (TS-0009) and the CoAP Uri-Path/Uri-Query options (TS-0008)
//! use the same forms, so both bindings translate them here.

use percent_encoding::percent_decode_str;
use urbis_model::primitive::ResponseTypeInfo;
use urbis_model::{CseError, CseResult, Request};

fn number<T: std::str::FromStr>(name: &str, value: &str) -> CseResult<T> {
    value
        .trim()
        .parse()
        .map_err(|_| CseError::bad_request(format!("invalid value for {name}: {value}")))
}

/// `/~/x` is SP-relative (`/x`), `/_/x` absolute (`//x`), anything else
/// CSE-relative. A trailing slash names nothing.
pub fn target_from_path(path: &str) -> CseResult<String> {
    let decoded = percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| CseError::bad_request("the request path is not valid UTF-8"))?;
    if decoded.len() > 1 && decoded.ends_with('/') {
        return Err(CseError::bad_request("a target address cannot end with /"));
    }
    let target = if let Some(rest) = decoded.strip_prefix("/~/") {
        format!("/{rest}")
    } else if let Some(rest) = decoded.strip_prefix("/_/") {
        format!("//{rest}")
    } else {
        decoded.trim_start_matches('/').to_owned()
    };
    if target.is_empty() {
        return Err(CseError::not_found("no target given"));
    }
    Ok(target)
}

/// Apply the request parameters of a URI query (TS-0009 §6.2.2.2; the CoAP
/// binding carries the same names in Uri-Query options).
pub fn apply_query(request: &mut Request, query: &str) -> CseResult<()> {
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (raw_key, raw_value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode_component(raw_key)?;
        let value = decode_component(raw_value)?;
        match key.as_str() {
            "rcn" => request.rcn = Some(number("rcn", &value)?),
            "drt" => request.drt = Some(number("drt", &value)?),
            "rt" => {
                let rtv = number("rt", &value)?;
                request
                    .rt
                    .get_or_insert_with(|| ResponseTypeInfo {
                        rtv,
                        nu: Vec::new(),
                    })
                    .rtv = rtv;
            }
            "atrl" => request.atrl.extend(
                value
                    .split([' ', '+'])
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            ),
            // accepted and not used by this CSE
            "rp" | "sqi" | "da" | "rids" | "tkns" | "tids" | "ltids" | "tqi" | "asi" | "auri"
            | "ma" => {}
            _ => request.fc.set_text(&key, &value)?,
        }
    }
    Ok(())
}

/// Query components: `+` is a space (a list separator for oneM2M), `%xx` decoded.
fn decode_component(raw: &str) -> CseResult<String> {
    let spaced = raw.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| CseError::bad_request("query parameters must be valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use urbis_model::Rsc;

    #[test]
    fn paths() {
        assert_eq!(target_from_path("/cse-in/ae").unwrap(), "cse-in/ae");
        assert_eq!(
            target_from_path("/~/id-in/cse-in").unwrap(),
            "/id-in/cse-in"
        );
        assert_eq!(
            target_from_path("/_/sp.example/id-in/cse-in").unwrap(),
            "//sp.example/id-in/cse-in"
        );
        assert_eq!(
            target_from_path("/cse-in/").unwrap_err().rsc,
            Rsc::BadRequest
        );
        assert_eq!(target_from_path("/a%20b").unwrap(), "a b");
    }

    #[test]
    fn query_parameters() {
        let mut request = Request::new(urbis_model::Operation::Retrieve, "cse-in");
        apply_query(&mut request, "rcn=4&lbl=a+b&rt=3&atrl=rn%20ty").unwrap();
        assert_eq!(request.rcn, Some(4));
        assert_eq!(request.fc.lbl, vec!["a", "b"]);
        assert_eq!(request.atrl, vec!["rn", "ty"]);
        assert_eq!(
            apply_query(&mut request, "rcn=x").unwrap_err().rsc,
            Rsc::BadRequest
        );
    }
}
