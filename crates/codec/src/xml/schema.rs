//! What XML cannot say by itself: the value kind of every short name
//! (TS-0004 §8.2 names, shapes from the CDT-*.xsd data types of TS-0004 §6).
//! XML text has no types, so the decoder reads `<cs>2</cs>` as a number and
//! `<con>2</con>` as a string only because this table says so; the encoder
//! uses it to choose between space-separated lists (xs:list) and repeated
//! elements (maxOccurs > 1).
//!
//! One line per name. `parent/name` lines override `name` inside an element
//! named `parent` (`fc/ty` is a list, a resource's `ty` a number). Names not
//! listed are decoded as text, or as nested objects when they have children
//! (`xsi:type` can type them, see `docs/serializations.md`). A unit test in
//! `urbis-core` checks that every attribute of every hosted resource type is
//! listed here with a compatible kind.

use std::collections::HashMap;
use std::sync::OnceLock;

/// How a short name's value looks in XML.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Text: xs:string, xs:anyURI, IDs, timestamps.
    Str,
    /// A number: integers, enumerations, floats.
    Num,
    /// xs:boolean.
    Bool,
    /// xs:list of text items in one element, separated by spaces.
    StrList,
    /// xs:list of numbers.
    NumList,
    /// Text with maxOccurs > 1: one element per item (items may hold spaces).
    StrRepeated,
    /// Numbers with maxOccurs > 1.
    NumRepeated,
    /// A complex type: members are child elements, typed by this table.
    Object,
    /// A complex type with maxOccurs > 1: one element per item.
    ObjectList,
    /// A simple type with XML attributes (m2m:childResourceRef,
    /// m2m:mgmtLinkRef): the text is the member `val`, the other members
    /// are XML attributes (`<rrf nm="x" typ="3">/id-in/cnt1</rrf>`).
    Ref,
    /// `Ref` with maxOccurs > 1.
    RefList,
    /// xs:anyType: text, or child elements typed by this table.
    Any,
    /// Application data (`con`): text, or child elements nobody types by name.
    Opaque,
    /// Holds global elements, like the document root (`pc`, `rep`).
    Content,
    /// m2m:resourceWrapper (`m2m:rce`): `<m2m:cnt>` (the bare `cnt` member)
    /// plus `uri`.
    Wrapper,
}

use Kind::*;

const TABLE: &[(&str, Kind)] = &[
    // global elements: the content of a document, a `pc` or a `rep`
    ("m2m:agn", Object),
    ("m2m:agr", Object),
    ("m2m:atrl", StrList),
    ("m2m:dbg", Str),
    ("m2m:rce", Wrapper),
    ("m2m:rqp", Object),
    ("m2m:rrl", Object),
    ("m2m:rsp", Object),
    ("m2m:sgn", Object),
    ("m2m:uri", Str),
    ("m2m:uril", StrList),
    // universal and common attributes (TS-0004 §6.3.6)
    ("aa", StrList),
    ("acpi", StrList),
    ("ast", Num),
    ("at", StrList),
    ("ch", RefList),
    ("cr", Str),
    ("cstn", Str),
    ("ct", Str),
    ("daci", StrList),
    ("et", Str),
    ("lbl", StrList),
    ("lnk", Str),
    ("loc", Any),
    ("lt", Str),
    ("pi", Str),
    ("ri", Str),
    ("rn", Str),
    ("st", Num),
    ("ty", Num),
    // CSEBase, remoteCSE, AE
    ("aei", Str),
    ("ape", ObjectList),
    ("api", Str),
    ("apn", Str),
    ("csi", Str),
    ("cst", Num),
    ("csz", StrList),
    ("ctm", Str),
    ("esi", Any),
    ("mei", Str),
    ("nl", Str),
    ("or", Str),
    ("poa", StrList),
    ("regs", Str),
    ("rr", Bool),
    ("scp", StrList),
    ("srt", NumList),
    ("srv", StrList),
    ("tren", Bool),
    ("trps", Bool),
    // m2m:activityPattern
    ("dsi", Num),
    ("sti", Num),
    // container, contentInstance, timeSeries, timeSeriesInstance, flexContainer
    ("cbs", Num),
    ("cnd", Str),
    ("cnf", Str),
    ("cni", Num),
    ("con", Opaque),
    ("conr", ObjectList),
    ("cs", Num),
    ("dcnt", Num),
    ("dgt", Str),
    ("disr", Bool),
    ("fcied", Bool),
    ("li", Str),
    ("mbs", Num),
    ("mdc", Num),
    ("mdd", Bool),
    ("mdlt", StrList),
    ("mdn", Num),
    ("mdt", Num),
    ("mia", Num),
    ("mni", Num),
    ("org", Str),
    ("pei", Num),
    ("peid", Num),
    ("snr", Num),
    // m2m:contentRef
    ("urir", Str),
    // accessControlPolicy: m2m:setOfAcrs and m2m:accessControlRule
    ("aca", StrList),
    ("acaf", Bool),
    ("acco", ObjectList),
    ("accc", StrList),
    ("accr", NumList),
    ("acip", Object),
    ("aclr", Object),
    ("acod", ObjectList),
    ("acop", Num),
    ("acor", StrList),
    ("acr", ObjectList),
    ("actw", StrRepeated),
    ("adri", StrList),
    ("airi", StrList),
    ("apri", StrList),
    ("chty", NumList),
    ("ipv4", StrList),
    ("ipv6", StrList),
    ("pv", Object),
    ("pvs", Object),
    ("spty", Any),
    // subscription; m2m:eventNotificationCriteria, m2m:batchNotify, m2m:rateLimit
    ("acrs", StrList),
    ("bn", Object),
    ("cra", Str),
    ("crb", Str),
    ("dur", Num),
    ("eeno", Bool),
    ("enc", Object),
    ("enc/atr", StrList),
    ("enc/net", NumRepeated),
    ("enc/om", ObjectList),
    ("exa", Str),
    ("exb", Str),
    ("exc", Num),
    ("fo", Num),
    ("gpi", Str),
    ("ln", Bool),
    ("ma", Str),
    ("md", Object),
    ("md/dur", Str),
    ("mnn", Num),
    ("ms", Str),
    ("nct", Num),
    ("nec", Num),
    ("nfu", Str),
    ("nse", Bool),
    ("nsi", ObjectList),
    ("nsp", Num),
    ("nu", StrList),
    ("num", Num),
    ("om", Object),
    ("ops", Num),
    ("pn", Num),
    ("psn", Num),
    ("rl", Object),
    ("stb", Num),
    ("sts", Num),
    ("su", Str),
    ("sza", Num),
    ("szb", Num),
    ("tww", Num),
    ("us", Str),
    // m2m:notificationStatsInfo
    ("noec", Num),
    ("rqs", Num),
    ("rsr", Num),
    ("tg", Str),
    // group
    ("cnm", Num),
    ("csy", Num),
    ("gn", Str),
    ("macp", StrList),
    ("mid", StrList),
    ("mnm", Num),
    ("mt", Num),
    ("mtv", Bool),
    ("nar", Object),
    ("ssi", Bool),
    // node
    ("hael", StrList),
    ("hcl", Str),
    ("hsl", StrList),
    ("mgca", StrList),
    ("nid", Str),
    ("ni", Str),
    ("nty", Num),
    ("rms", Bool),
    // mgmtObj and its specializations (TS-0004 Annex D); m2m:actionStatus
    ("acn", Str),
    ("act", Bool),
    ("acts", Object),
    ("ant", Str),
    ("att", Bool),
    ("awi", Str),
    ("btl", Num),
    ("bts", Num),
    ("can", Str),
    ("cas", Object),
    ("cmlk", RefList),
    ("cnty", Str),
    ("cus", Bool),
    ("dc", Str),
    ("dea", Bool),
    ("dis", Bool),
    ("dlb", Str),
    ("dty", Str),
    ("dvd", Str),
    ("dvnm", Str),
    ("dvt", Str),
    ("ena", Bool),
    ("far", Bool),
    ("fwn", Str),
    ("fwv", Str),
    ("hwv", Str),
    ("in", Bool),
    ("ins", Object),
    ("ldv", StrList),
    ("lga", Bool),
    ("lgd", Str),
    ("lgo", Bool),
    ("lgst", Num),
    ("lgt", Num),
    ("lnh", StrList),
    ("man", Str),
    ("mfd", Str),
    ("mfdl", Str),
    ("mgd", Num),
    ("mgs", Str),
    ("mma", Num),
    ("mmt", Num),
    ("mod", Str),
    ("obis", StrList),
    ("obps", StrList),
    ("osv", Str),
    ("ptl", StrList),
    ("purl", Str),
    ("rbo", Bool),
    ("sld", Num),
    ("sli", Num),
    ("smod", Str),
    ("spur", Str),
    ("ss", Str),
    ("sus", Num),
    ("swn", Str),
    ("swv", Str),
    ("syst", Str),
    ("ud", Bool),
    ("uds", Object),
    ("un", Bool),
    ("url", Str),
    ("vr", Str),
    // device-configuration specializations (dcfg: dataCollection,
    // myCertFileCred, wifiClient, credentials, SIM, mobileNetwork)
    ("apna", Str),
    ("ceid", Num),
    ("chanl", Str),
    ("cnb", Num),
    ("cntp", Str),
    ("coel", Num),
    ("cons", Num),
    ("crid", Str),
    ("crse", Str),
    ("crtk", Str),
    ("enct", Num),
    ("icid", Str),
    ("imsi", Str),
    ("ip4", Str),
    ("ip6", Str),
    ("ipad", ObjectList),
    ("lac", Num),
    ("liqu", Num),
    ("maca", Str),
    ("mcfc", Str),
    ("mcff", Str),
    ("meil", Num),
    ("mesc", ObjectList),
    ("pur", Str),
    ("pwd", Str),
    ("ripa", ObjectList),
    ("rdst", Bool),
    ("rpsc", ObjectList),
    ("rss", Num),
    ("scan", Bool),
    ("scanr", StrRepeated),
    ("sce", StrRepeated),
    ("sist", Num),
    ("sity", Num),
    ("smcc", Num),
    ("smnc", Num),
    ("spn", Str),
    ("ssid", Str),
    ("suids", NumList),
    ("trdst", Bool),
    ("unm", Str),
    ("wcrds", Object),
    ("wepk", Str),
    ("wpap", Str),
    // pollingChannel
    ("rqag", Bool),
    // request and response primitives (TS-0004 §8.2.2); m2m:responseTypeInfo
    ("asi", Bool),
    ("atrl", StrList),
    ("auri", Bool),
    ("cnot", Num),
    ("cnst", Num),
    ("da", Bool),
    ("drt", Num),
    ("ec", Num),
    ("fc", Object),
    ("fr", Str),
    ("gid", Str),
    ("grtm", StrList),
    ("ltids", StrList),
    ("oet", Str),
    ("op", Num),
    ("ot", Str),
    ("pc", Content),
    ("rcn", Num),
    ("rids", StrList),
    ("rp", Str),
    ("rqet", Str),
    ("rqi", Str),
    ("rsc", Num),
    ("rset", Str),
    ("rt", Object),
    ("rtv", Num),
    ("rvi", Str),
    ("sqi", Bool),
    ("tids", StrList),
    ("tkns", StrList),
    ("to", Str),
    ("tqi", Bool),
    ("vsi", Str),
    // m2m:filterCriteria; m2m:attribute
    ("arp", Str),
    ("atr", ObjectList),
    ("catr", ObjectList),
    ("cfq", Str),
    ("cfs", Num),
    ("clbl", StrList),
    ("cty", StrRepeated),
    ("fc/ty", NumList),
    ("fu", Num),
    ("lbq", Str),
    ("lim", Num),
    ("lvl", Num),
    ("nm", Str),
    ("ofst", Num),
    ("palb", StrList),
    ("patr", ObjectList),
    ("pty", NumList),
    ("smf", StrRepeated),
    ("val", Any),
    // m2m:notification; m2m:resourceRefList; m2m:resourceWrapper; geo coordinates
    ("aerid", Bool),
    ("aerp", Bool),
    ("crd", Str),
    ("net", Num),
    ("nev", Object),
    ("ntt", Str),
    ("rep", Content),
    ("rrf", RefList),
    ("spid", Str),
    ("sud", Bool),
    ("sur", Str),
    ("tid1", Str),
    ("tid2", Str),
    ("tra", Bool),
    ("trr", Bool),
    ("typ", Num),
    ("uri", Str),
    ("vrq", Bool),
];

struct Lookup {
    global: HashMap<&'static str, Kind>,
    /// `parent/name` lines: parent → name → kind
    within: HashMap<&'static str, HashMap<&'static str, Kind>>,
}

fn lookup() -> &'static Lookup {
    static LOOKUP: OnceLock<Lookup> = OnceLock::new();
    LOOKUP.get_or_init(|| {
        let mut global = HashMap::new();
        let mut within: HashMap<&'static str, HashMap<&'static str, Kind>> = HashMap::new();
        for (line, kind) in TABLE {
            match line.split_once('/') {
                Some((parent, name)) => {
                    within.entry(parent).or_default().insert(name, *kind);
                }
                None => {
                    global.insert(*line, *kind);
                }
            }
        }
        Lookup { global, within }
    })
}

/// The kind of `name` as a resource attribute or primitive parameter
/// (no parent override applies).
pub fn attribute_kind(name: &str) -> Option<Kind> {
    lookup().global.get(name).copied()
}

/// The kind of `name` inside an element named `parent`.
pub fn kind_in(parent: Option<&str>, name: &str) -> Option<Kind> {
    let lookup = lookup();
    parent
        .and_then(|parent| lookup.within.get(parent))
        .and_then(|names| names.get(name))
        .or_else(|| lookup.global.get(name))
        .copied()
}

/// Every name the table lists with its kind (`parent/name` lines included).
pub fn entries() -> &'static [(&'static str, Kind)] {
    TABLE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_name() {
        let mut seen = std::collections::HashSet::new();
        for (name, _) in TABLE {
            assert!(seen.insert(*name), "{name} is listed twice");
        }
    }

    #[test]
    fn parent_lines_override() {
        assert_eq!(kind_in(None, "ty"), Some(Num));
        assert_eq!(kind_in(Some("m2m:cnt"), "ty"), Some(Num));
        assert_eq!(kind_in(Some("fc"), "ty"), Some(NumList));
        assert_eq!(kind_in(Some("enc"), "net"), Some(NumRepeated));
        assert_eq!(kind_in(Some("nev"), "net"), Some(Num));
        assert_eq!(kind_in(Some("x"), "nonsense"), None);
        assert_eq!(attribute_kind("con"), Some(Opaque));
    }
}
