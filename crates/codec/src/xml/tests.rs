use serde_json::{json, Value};
use urbis_model::Rsc;

use super::{decode, encode, MAX_DEPTH};

fn xml(value: &Value) -> String {
    String::from_utf8(encode(value).expect("encodes")).expect("UTF-8")
}

/// Encode, check the document contains every fragment, decode, compare.
fn round_trip(value: Value, fragments: &[&str]) {
    let text = xml(&value);
    for fragment in fragments {
        assert!(text.contains(fragment), "{fragment} missing in {text}");
    }
    assert_eq!(decode(text.as_bytes()).expect("decodes"), value, "{text}");
}

fn rejected(text: &str) -> String {
    let err = decode(text.as_bytes()).expect_err(text);
    assert_eq!(err.rsc, Rsc::BadRequest, "{text}: {}", err.message);
    err.message
}

#[test]
fn content_instance_with_rn_as_attribute_lists_and_numbers() {
    round_trip(
        json!({"m2m:cin": {"rn": "x", "ty": 4, "ri": "cin1", "pi": "cnt1", "con": "21",
                           "cs": 2, "lbl": ["a", "b"], "st": 0, "cnf": "text/plain:0",
                           "ct": "20260101T000000,000000", "lt": "20260101T000000,000000",
                           "et": "20270101T000000,000000"}}),
        &[
            r#"<?xml version="1.0" encoding="UTF-8"?><m2m:cin xmlns:m2m="http://www.onem2m.org/xml/protocols" rn="x">"#,
            "<ty>4</ty><ri>cin1</ri><pi>cnt1</pi>",
            "<con>21</con>",
            "<cs>2</cs>",
            "<lbl>a b</lbl>",
        ],
    );
}

#[test]
fn universal_attributes_come_first_child_resources_last() {
    let text = xml(
        &json!({"m2m:cnt": {"mni": 3, "ty": 3, "ri": "c1", "lbl": ["x"],
                                      "m2m:cin": [{"rn": "i", "con": "v"}], "ch": [], "acpi": ["a"]}}),
    );
    let at = |s: &str| text.find(s).unwrap_or_else(|| panic!("{s} in {text}"));
    assert!(at("<ty>") < at("<ri>"));
    assert!(at("<ri>") < at("<lbl>"));
    assert!(at("<lbl>") < at("<acpi>"));
    assert!(at("<acpi>") < at("<mni>"));
    assert!(at("<mni>") < at("<m2m:cin"));
}

#[test]
fn resource_types_round_trip() {
    round_trip(
        json!({"m2m:ae": {"rn": "meter", "api": "Nmeter", "aei": "Cmeter", "rr": true,
                          "srv": ["3", "4"], "poa": ["http://127.0.0.1:9000/n"],
                          "csz": ["application/xml", "application/json"], "apn": "4"}}),
        &["<rr>true</rr>", "<srv>3 4</srv>", "<apn>4</apn>"],
    );
    round_trip(
        json!({"m2m:cnt": {"rn": "power", "mni": 100, "mbs": 10000, "mia": 60, "cni": 0,
                           "cbs": 0, "disr": false, "st": 3, "cr": "Cmeter"}}),
        &["<disr>false</disr>", "<cr>Cmeter</cr>"],
    );
    round_trip(
        json!({"m2m:cb": {"rn": "cse-in", "ty": 5, "csi": "/id-in", "cst": 1,
                          "srt": [1, 2, 3, 4, 5, 23], "srv": ["4"], "poa": ["http://x"]}}),
        &["<srt>1 2 3 4 5 23</srt>", "<csi>/id-in</csi>"],
    );
    round_trip(
        json!({"m2m:grp": {"rn": "g", "mt": 3, "mnm": 10, "cnm": 2, "mid": ["/id-in/a", "/id-in/b"],
                           "mtv": true, "csy": 1, "nar": {"num": 2, "dur": 60}}}),
        &[
            "<mid>/id-in/a /id-in/b</mid>",
            "<nar><dur>60</dur><num>2</num></nar>",
        ],
    );
    round_trip(
        json!({"m2m:nod": {"rn": "n", "ni": "node-1", "hael": ["a"], "nty": 1, "mgca": ["x"]}}),
        &["<ni>node-1</ni>"],
    );
    round_trip(
        json!({"m2m:bat": {"rn": "battery", "mgd": 1006, "btl": 80, "bts": 1, "dc": "battery",
                           "cmlk": [{"nm": "fw", "typ": 1001, "val": "/id-in/fw1"}]}}),
        &[
            "<mgd>1006</mgd>",
            r#"<cmlk nm="fw" typ="1001">/id-in/fw1</cmlk>"#,
        ],
    );
    round_trip(
        json!({"m2m:fwr": {"rn": "fw", "mgd": 1001, "vr": "1.0", "fwn": "f", "url": "http://f",
                           "ud": false, "uds": {"acn": "install", "sus": 0}}}),
        &["<uds><acn>install</acn><sus>0</sus></uds>"],
    );
    round_trip(
        json!({"m2m:ts": {"rn": "ts", "pei": 1000, "mdd": true, "mdn": 10,
                          "mdlt": ["20260101T000000", "20260101T000001"], "mdc": 2}}),
        &["<mdlt>20260101T000000 20260101T000001</mdlt>"],
    );
    round_trip(
        json!({"m2m:tsi": {"rn": "i", "dgt": "20260101T000000", "con": "12.5", "snr": 7}}),
        &["<con>12.5</con>", "<snr>7</snr>"],
    );
}

#[test]
fn access_control_policy_nests_rules() {
    round_trip(
        json!({"m2m:acp": {"rn": "acp", "pv": {"acr": [
            {"acor": ["Cae1", "Cae2"], "acop": 63,
             "acco": [{"actw": ["* * * * * * *", "0 0 8 * * 1-5 *"],
                       "acip": {"ipv4": ["10.0.0.1", "10.0.1.0/24"]},
                       "aclr": {"accr": [48.1, 11.5, 100.0]}}],
             "acod": [{"ty": 3, "chty": [4, 23]}], "aca": ["lbl"], "acaf": true},
            {"acor": ["all"], "acop": 2}]},
            "pvs": {"acr": [{"acor": ["CAdmin"], "acop": 63}]}}}),
        &[
            "<pv><acr><aca>lbl</aca><acaf>true</acaf><acco>",
            "<actw>* * * * * * *</actw><actw>0 0 8 * * 1-5 *</actw>",
            "<acor>Cae1 Cae2</acor>",
            "<acod><chty>4 23</chty><ty>3</ty></acod>",
            "<accr>48.1 11.5 100.0</accr>",
        ],
    );
}

#[test]
fn one_rule_is_still_a_list_of_rules() {
    let text = r#"<m2m:acp xmlns:m2m="http://www.onem2m.org/xml/protocols" rn="a">
        <pv><acr><acor>Cx</acor><acop>3</acop></acr></pv></m2m:acp>"#;
    assert_eq!(
        decode(text.as_bytes()).unwrap(),
        json!({"m2m:acp": {"rn": "a", "pv": {"acr": [{"acor": ["Cx"], "acop": 3}]}}})
    );
}

#[test]
fn subscription_criteria_use_repeated_and_listed_elements() {
    round_trip(
        json!({"m2m:sub": {"rn": "s", "nu": ["Cae", "http://127.0.0.1:1/n"], "nct": 1,
                           "enc": {"net": [1, 3], "chty": [4], "atr": ["lbl", "con"],
                                   "om": [{"ops": 1, "org": "Cae"}], "md": {"num": 2, "dur": "PT5S"}},
                           "bn": {"num": 3, "dur": 1000}, "rl": {"mnn": 1, "tww": 10},
                           "exc": 5, "ln": false, "nse": true,
                           "nsi": [{"tg": "Cae", "rqs": 1, "rsr": 1, "noec": 0}]}}),
        &[
            "<net>1</net><net>3</net>",
            "<atr>lbl con</atr>",
            "<om><ops>1</ops><org>Cae</org></om>",
            "<nu>Cae http://127.0.0.1:1/n</nu>",
        ],
    );
    // one event type is still a list inside enc
    let text = r#"<m2m:sub xmlns:m2m="http://www.onem2m.org/xml/protocols"><enc><net>1</net></enc></m2m:sub>"#;
    assert_eq!(
        decode(text.as_bytes()).unwrap(),
        json!({"m2m:sub": {"enc": {"net": [1]}}})
    );
}

#[test]
fn flex_container_specialization_keeps_its_prefix_and_types() {
    round_trip(
        json!({"cod:tempe": {"rn": "t", "cnd": "org.onem2m.home.moduleclass.temperature",
                             "curT0": 23.5, "unit": "C", "minVe": -40, "on": true,
                             "tarTe": {"a": "x", "b": 2}}}),
        &[
            r#"<cod:tempe xmlns:cod="http://www.onem2m.org/xml/protocols/cod" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" rn="t">"#,
            r#"<curT0 xsi:type="xs:double">23.5</curT0>"#,
            r#"<minVe xsi:type="xs:integer">-40</minVe>"#,
            r#"<on xsi:type="xs:boolean">true</on>"#,
            "<unit>C</unit>",
        ],
    );
    // without xsi:type an unknown element is text, as it must be for a custom attribute
    let text = r#"<hd:tempe xmlns:hd="http://www.onem2m.org/xml/protocols/homedomain"><curT0>23.5</curT0></hd:tempe>"#;
    assert_eq!(
        decode(text.as_bytes()).unwrap(),
        json!({"hd:tempe": {"curT0": "23.5"}})
    );
}

#[test]
fn content_stays_text_even_when_it_looks_like_a_number() {
    let text = r#"<m2m:cin xmlns:m2m="http://www.onem2m.org/xml/protocols"><con>42</con><cs>2</cs></m2m:cin>"#;
    assert_eq!(
        decode(text.as_bytes()).unwrap(),
        json!({"m2m:cin": {"con": "42", "cs": 2}})
    );
    // a number or a structure in con survives an XML round trip
    round_trip(json!({"m2m:cin": {"con": 42}}), &["xsi:type"]);
    round_trip(
        json!({"m2m:cin": {"con": {"temp": "20", "ty": "not a number", "lbl": "a b"}}}),
        &["<con><lbl>a b</lbl>"],
    );
}

#[test]
fn request_primitive_from_the_specification() {
    // TS-0004 §8.3.2
    let text = r#"<?xml version="1.0" encoding="UTF-8"?>
<m2m:rqp xmlns:m2m="http://www.onem2m.org/xml/protocols">
    <op>1</op>
    <to>//example.net/myCSE/-/Cont1</to>
    <fr>/myCSE/C2345</fr>
    <rqi>0002bf63</rqi>
    <ty>4</ty>
    <pc>
        <m2m:cin>
            <cnf>application/xml:1</cnf>
            <con>PHRpbWU+MTc4ODkzMDk8L3RpbWU+PHRlbXA+MjA8L3RlbXA+DQo=</con>
        </m2m:cin>
    </pc>
</m2m:rqp>"#;
    let value = decode(text.as_bytes()).unwrap();
    assert_eq!(
        value,
        json!({"op": 1, "to": "//example.net/myCSE/-/Cont1", "fr": "/myCSE/C2345",
               "rqi": "0002bf63", "ty": 4,
               "pc": {"m2m:cin": {"cnf": "application/xml:1",
                                  "con": "PHRpbWU+MTc4ODkzMDk8L3RpbWU+PHRlbXA+MjA8L3RlbXA+DQo="}}})
    );
    let request = crate::primitive::request_from_value(&value).unwrap();
    assert_eq!(request.ty, Some(4));
    // a bare primitive gets its root element back
    round_trip(value, &["<m2m:rqp ", "<pc><m2m:cin>"]);
}

#[test]
fn request_primitive_with_response_type_and_filter_criteria() {
    round_trip(
        json!({"op": 2, "to": "cse-in", "fr": "CAdmin", "rqi": "7", "rvi": "3", "rcn": 11,
               "rt": {"rtv": 2, "nu": ["http://a/b"]},
               "fc": {"fu": 1, "ty": [3], "lbl": ["x", "y"], "lim": 10, "lvl": 2,
                      "atr": [{"nm": "rn", "val": "box"}], "cty": ["text/plain", "a b"]}}),
        &[
            "<rvi>3</rvi>",
            "<fc><atr><nm>rn</nm><val>box</val></atr>",
            "<ty>3</ty>",
            "<cty>text/plain</cty><cty>a b</cty>",
            "<rt><nu>http://a/b</nu><rtv>2</rtv></rt>",
        ],
    );
}

#[test]
fn response_primitives_discovery_errors_and_references() {
    round_trip(
        json!({"rsc": 2000, "rqi": "1", "rvi": "4",
               "pc": {"m2m:uril": ["/id-in/cnt1", "/id-in/cnt2"]}}),
        &[
            "<m2m:rsp ",
            "<pc><m2m:uril>/id-in/cnt1 /id-in/cnt2</m2m:uril></pc>",
        ],
    );
    round_trip(
        json!({"m2m:uril": ["cse-in/a", "cse-in/b"]}),
        &["<m2m:uril xmlns:m2m=\"http://www.onem2m.org/xml/protocols\">cse-in/a cse-in/b</m2m:uril>"],
    );
    round_trip(
        json!({"m2m:dbg": "resource does not exist: cse-in/x & <y>"}),
        &["<m2m:dbg xmlns:m2m=\"http://www.onem2m.org/xml/protocols\">resource does not exist: cse-in/x &amp; &lt;y&gt;</m2m:dbg>"],
    );
    round_trip(
        json!({"m2m:rrl": {"rrf": [{"nm": "box", "typ": 3, "val": "cse-in/app/box"},
                                   {"nm": "s", "typ": 23, "val": "cse-in/app/box/s"}]}}),
        &[r#"<rrf nm="box" typ="3">cse-in/app/box</rrf>"#],
    );
    round_trip(
        json!({"m2m:ae": {"rn": "app", "ch": [{"nm": "box", "typ": 3, "val": "cse-in/app/box"}]}}),
        &[r#"<ch nm="box" typ="3">cse-in/app/box</ch>"#],
    );
    round_trip(
        json!({"m2m:uri": "cse-in/app/box"}),
        &["<m2m:uri xmlns:m2m"],
    );
    round_trip(
        json!({"m2m:rce": {"cnt": {"rn": "box", "ty": 3}, "uri": "cse-in/app/box"}}),
        &[
            r#"<m2m:rce xmlns:m2m="http://www.onem2m.org/xml/protocols"><m2m:cnt rn="box"><ty>3</ty></m2m:cnt><uri>cse-in/app/box</uri></m2m:rce>"#,
        ],
    );
}

#[test]
fn notifications_and_aggregates() {
    round_trip(
        json!({"m2m:sgn": {"nev": {"rep": {"m2m:cin": {"rn": "i", "con": "1", "ty": 4}}, "net": 3,
                                   "om": {"ops": 1, "org": "Cae"}},
                           "sur": "/id-in/sub1", "cr": "Cae"}}),
        &["<nev><net>3</net><om><ops>1</ops><org>Cae</org></om><rep><m2m:cin rn=\"i\">"],
    );
    round_trip(
        json!({"m2m:sgn": {"vrq": true, "sur": "/id-in/sub1", "cr": "Cae"}}),
        &["<vrq>true</vrq>"],
    );
    // nct=3: the representation is just the resource ID
    round_trip(
        json!({"m2m:sgn": {"nev": {"rep": "cin123", "net": 3}, "sur": "/id-in/s"}}),
        &["<rep>cin123</rep>"],
    );
    round_trip(
        json!({"m2m:agn": {"m2m:sgn": [{"sur": "/id-in/s", "nev": {"net": 1}}]}}),
        &["<m2m:agn xmlns:m2m=\"http://www.onem2m.org/xml/protocols\"><m2m:sgn>"],
    );
    round_trip(
        json!({"m2m:agr": {"m2m:rsp": [
            {"rsc": 2000, "rqi": "1", "fr": "/id-in/a", "pc": {"m2m:cnt": {"rn": "a"}}},
            {"rsc": 4004, "rqi": "1", "fr": "/id-in/b", "pc": {"m2m:dbg": "gone"}}]}}),
        &["<m2m:rsp><fr>/id-in/a</fr><pc><m2m:cnt rn=\"a\"/></pc><rqi>1</rqi><rsc>2000</rsc></m2m:rsp>"],
    );
}

#[test]
fn child_resources_nest_as_repeated_elements() {
    round_trip(
        json!({"m2m:cnt": {"rn": "box", "ty": 3, "m2m:cin": [
            {"rn": "a", "con": "1"}, {"rn": "b", "con": "2"}],
            "m2m:cnt": [{"rn": "inner", "m2m:sub": [{"rn": "s", "nu": ["Cx"]}]}]}}),
        &[r#"<m2m:cin rn="a"><con>1</con></m2m:cin><m2m:cin rn="b">"#],
    );
    // one child is still a list
    let text = r#"<m2m:cnt xmlns:m2m="http://www.onem2m.org/xml/protocols" rn="box"><m2m:cin rn="a"/></m2m:cnt>"#;
    assert_eq!(
        decode(text.as_bytes()).unwrap(),
        json!({"m2m:cnt": {"rn": "box", "m2m:cin": [{"rn": "a"}]}})
    );
}

#[test]
fn null_is_an_empty_element_and_empty_resources_are_objects() {
    round_trip(
        json!({"m2m:grp": {"mnm": null, "lbl": null, "nar": null}}),
        &["<lbl/><mnm/><nar/>"],
    );
    let text = r#"<m2m:grp xmlns:m2m="http://www.onem2m.org/xml/protocols"><mnm></mnm></m2m:grp>"#;
    assert_eq!(
        decode(text.as_bytes()).unwrap(),
        json!({"m2m:grp": {"mnm": null}})
    );
    let nil = r#"<m2m:grp xmlns:m2m="http://www.onem2m.org/xml/protocols" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><gn xsi:nil="true"/></m2m:grp>"#;
    assert_eq!(
        decode(nil.as_bytes()).unwrap(),
        json!({"m2m:grp": {"gn": null}})
    );
    round_trip(
        json!({"m2m:cin": {}}),
        &["<m2m:cin xmlns:m2m=\"http://www.onem2m.org/xml/protocols\"/>"],
    );
}

#[test]
fn prefixes_are_read_by_namespace() {
    let other =
        r#"<o:cnt xmlns:o="http://www.onem2m.org/xml/protocols" rn="x"><mni>1</mni></o:cnt>"#;
    let default = r#"<cnt xmlns="http://www.onem2m.org/xml/protocols" rn="x"><mni>1</mni></cnt>"#;
    let expected = json!({"m2m:cnt": {"rn": "x", "mni": 1}});
    assert_eq!(decode(other.as_bytes()).unwrap(), expected);
    assert_eq!(decode(default.as_bytes()).unwrap(), expected);
}

#[test]
fn lists_tolerate_repeated_elements_and_whitespace() {
    let text = "<m2m:ae xmlns:m2m=\"http://www.onem2m.org/xml/protocols\">\n  <lbl>a\tb\n c</lbl>\n  <lbl>d</lbl>\n  <rr> true </rr>\n</m2m:ae>";
    assert_eq!(
        decode(text.as_bytes()).unwrap(),
        json!({"m2m:ae": {"lbl": ["a", "b", "c", "d"], "rr": true}})
    );
}

#[test]
fn unknown_elements_are_text_or_objects() {
    let text = r#"<m2m:cnt xmlns:m2m="http://www.onem2m.org/xml/protocols"><zz>1</zz><yy><a>x</a><a>y</a><b k="v">t</b></yy><mni>oops</mni></m2m:cnt>"#;
    assert_eq!(
        decode(text.as_bytes()).unwrap(),
        json!({"m2m:cnt": {"zz": "1", "yy": {"a": ["x", "y"], "b": {"k": "v", "val": "t"}},
                           "mni": "oops"}})
    );
}

#[test]
fn escaping_survives_the_round_trip() {
    let tricky = "a & b < c > d \"e\" 'f'\r\n\tg  ";
    round_trip(
        json!({"m2m:cin": {"rn": tricky, "con": tricky, "lbl": ["&amp;", "<x>"]}}),
        &[
            "&amp;amp; &lt;x&gt;",
            "&#13;",
            "rn=\"a &amp; b &lt; c &gt; d &quot;e&quot; 'f'&#13;&#10;&#9;g  \"",
        ],
    );
    let text = r#"<m2m:cin xmlns:m2m="http://www.onem2m.org/xml/protocols"><con><![CDATA[<a>&x;</a>]]>&#x41;&#65;&quot;</con></m2m:cin>"#;
    assert_eq!(
        decode(text.as_bytes()).unwrap(),
        json!({"m2m:cin": {"con": "<a>&x;</a>AA\""}})
    );
}

#[test]
fn values_xml_cannot_carry_are_refused() {
    for value in [
        json!({"m2m:cin": {"a b": 1}}),
        json!({"m2m:cin": {"": 1}}),
        json!({"m2m:cin": {"1x": 1}}),
        json!({"m2m:cin": {"con": "bell\u{7}"}}),
        json!({"m2m:cin": [{"rn": "a"}]}),
        json!({"a": 1, "b": 2}),
        json!("text"),
        json!(null),
    ] {
        let err = encode(&value).expect_err(&value.to_string());
        assert_eq!(err.rsc, Rsc::NotAcceptable, "{value}");
    }
}

#[test]
fn malformed_documents_are_bad_requests() {
    for text in [
        "",
        "   ",
        "<m2m:cin",
        "<a><b></a>",
        "<a></a><b></b>",
        "<a/>trailing text",
        "text<a/>",
        "<a>unclosed",
        "</a>",
        "<a x='1' x='2'/>",
        "<a>&unknown;</a>",
        "<a>&#0;</a>",
        "<a><b/>text</a>",
        "<m2m:cin xmlns:m2m=\"http://www.onem2m.org/xml/protocols\"><con>x</con>",
    ] {
        let message = rejected(text);
        assert!(message.starts_with("malformed XML content"), "{message}");
    }
    rejected("\u{0}\u{1}\u{2}");
    let not_utf8 = decode(&[b'<', b'a', b'>', 0xff, b'<', b'/', b'a', b'>']).unwrap_err();
    assert_eq!(not_utf8.rsc, Rsc::BadRequest);
}

#[test]
fn no_entity_is_ever_expanded() {
    let billion_laughs = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">]>
<m2m:cin xmlns:m2m="http://www.onem2m.org/xml/protocols"><con>&lol2;</con></m2m:cin>"#;
    assert!(rejected(billion_laughs).contains("DOCTYPE"));
    let external = r#"<!DOCTYPE a [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><a>&xxe;</a>"#;
    assert!(rejected(external).contains("DOCTYPE"));
    assert!(rejected("<a>&xxe;</a>").contains("not expanded"));
}

#[test]
fn nesting_is_limited() {
    let deep = |levels: usize| {
        let mut text = String::from("<m2m:cin xmlns:m2m=\"http://www.onem2m.org/xml/protocols\">");
        for _ in 1..levels {
            text.push_str("<con>");
        }
        for _ in 1..levels {
            text.push_str("</con>");
        }
        text.push_str("</m2m:cin>");
        text
    };
    assert!(decode(deep(MAX_DEPTH).as_bytes()).is_ok());
    assert!(rejected(&deep(MAX_DEPTH + 1)).contains("deeper"));
    assert!(rejected(&deep(100_000)).contains("deeper"));
    // and the encoder never writes what the decoder would refuse
    let mut value = json!("x");
    for _ in 0..MAX_DEPTH + 5 {
        value = json!({"con": value});
    }
    assert!(encode(&json!({"m2m:cin": value})).is_err());
}

#[test]
fn wide_documents_decode_in_linear_time() {
    // 1 MiB of distinct sibling names: grouping them must not be quadratic
    let mut text = String::from("<m2m:cin xmlns:m2m=\"http://www.onem2m.org/xml/protocols\">");
    let count = 100_000;
    for i in 0..count {
        text.push_str(&format!("<a{i}/>"));
    }
    text.push_str("</m2m:cin>");
    let started = std::time::Instant::now();
    let value = decode(text.as_bytes()).unwrap();
    assert_eq!(value["m2m:cin"].as_object().map(|m| m.len()), Some(count));
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}
