//! MQTT topics of the oneM2M binding (TS-0010 §6.4): pure parsing and
//! formatting, no IO.

use urbis_model::Serialization;

/// Which kind of message a topic carries.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Channel {
    Request,
    Registration,
}

/// A parsed request topic `/oneM2M/<req|reg_req>/<originator>/<receiver>/<ser>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestTopic {
    pub channel: Channel,
    pub originator: String,
    pub receiver: String,
    pub serialization: Serialization,
}

/// IDs in topics have no leading slashes and `:` where an ID has `/`
/// (`/id-in/Cae` → `id-in:Cae`).
pub fn id_to_topic(id: &str) -> String {
    id.trim_start_matches('/').replace('/', ":")
}

/// Parse a request topic; `None` for anything that is not one (the binding
/// cannot answer those, so it logs and drops them).
pub fn parse_request(topic: &str) -> Option<RequestTopic> {
    let parts: Vec<&str> = topic.strip_prefix("/oneM2M/")?.split('/').collect();
    let [kind, originator, receiver, ser] = parts.as_slice() else {
        return None;
    };
    let channel = match *kind {
        "req" => Channel::Request,
        "reg_req" => Channel::Registration,
        _ => return None,
    };
    if originator.is_empty() || receiver.is_empty() {
        return None;
    }
    let serialization = Serialization::from_name(ser)?;
    Some(RequestTopic {
        channel,
        originator: (*originator).to_owned(),
        receiver: (*receiver).to_owned(),
        serialization,
    })
}

/// The topic a response to `request` goes to (same originator/receiver order).
pub fn response_topic(request: &RequestTopic) -> String {
    let kind = match request.channel {
        Channel::Request => "resp",
        Channel::Registration => "reg_resp",
    };
    format!(
        "/oneM2M/{kind}/{}/{}/{}",
        request.originator,
        request.receiver,
        short_name(request.serialization)
    )
}

/// The topics the CSE subscribes to.
pub fn subscriptions(cse_id: &str) -> [String; 2] {
    let receiver = id_to_topic(cse_id);
    [
        format!("/oneM2M/req/+/{receiver}/+"),
        format!("/oneM2M/reg_req/+/{receiver}/+"),
    ]
}

pub fn short_name(serialization: Serialization) -> &'static str {
    match serialization {
        Serialization::Json => "json",
        Serialization::Cbor => "cbor",
        Serialization::Xml => "xml",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_topics() {
        let parsed = parse_request("/oneM2M/req/Cae1/id-in/json").unwrap();
        assert_eq!(parsed.channel, Channel::Request);
        assert_eq!(parsed.originator, "Cae1");
        assert_eq!(response_topic(&parsed), "/oneM2M/resp/Cae1/id-in/json");
        let reg = parse_request("/oneM2M/reg_req/C/id-in/cbor").unwrap();
        assert_eq!(response_topic(&reg), "/oneM2M/reg_resp/C/id-in/cbor");
    }

    #[test]
    fn malformed_topics_are_refused() {
        for bad in [
            "/oneM2M/req/Cae/id-in",
            "/oneM2M/resp/Cae/id-in/json",
            "/oneM2M/req/Cae/id-in/yaml",
            "oneM2M/req/Cae/id-in/json",
            "/oneM2M/req//id-in/json",
            "/oneM2M/req/a/b/json/extra",
        ] {
            assert!(parse_request(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn ids_in_topics() {
        assert_eq!(id_to_topic("/id-in"), "id-in");
        assert_eq!(id_to_topic("/id-in/Cae"), "id-in:Cae");
        assert_eq!(subscriptions("/id-in")[0], "/oneM2M/req/+/id-in/+");
    }
}
