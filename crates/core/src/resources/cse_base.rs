//! `<CSEBase>` (ty 5): the root of the resource tree. Created at first start,
//! never by a request, never deleted.

use serde_json::{json, Value};
use urbis_model::{time, Attrs, CseResult, Resource, ResourceType};

use crate::attributes::{AttrDef, ACPI};
use crate::registry::{Hooks, Kind};
use crate::{attr, Cse};

const OWN: &[AttrDef] = &[
    attr!("ty", NonNegInt, NP, NP),
    attr!("ri", Str, NP, NP),
    attr!("rn", Str, NP, NP),
    attr!("pi", Str, NP, NP),
    attr!("ct", Timestamp, NP, NP),
    attr!("lt", Timestamp, NP, NP),
    attr!("lbl", StrList, NP, O),
    attr!("cstn", Str, NP, O),
    attr!("daci", StrList, NP, O),
    attr!("csi", Str, NP, NP),
    attr!("cst", NonNegInt, NP, NP),
    attr!("csz", StrList, NP, O),
    attr!("ctm", Timestamp, NP, NP),
    attr!("esi", Any, NP, O),
    attr!("nl", Str, NP, NP),
    attr!("poa", StrList, NP, O),
    attr!("srt", IntList, NP, NP),
    attr!("srv", StrList, NP, O),
    attr!("loc", Any, NP, O),
];

pub static KIND: Kind = Kind {
    ty: ResourceType::CseBase,
    attrs: &[OWN, ACPI],
    parents: &[],
    own_acpi: true,
    id_prefix: "cb",
    hooks: &CseBaseHooks,
};

struct CseBaseHooks;

impl Hooks for CseBaseHooks {
    fn on_retrieve(&self, _config: &crate::CseConfig, resource: &mut Resource) {
        resource.set("ctm", time::now_string());
    }
}

/// Resource types this CSE hosts, for `srt`.
const SUPPORTED_TYPES: &[ResourceType] = &[
    ResourceType::AccessControlPolicy,
    ResourceType::Ae,
    ResourceType::Container,
    ResourceType::ContentInstance,
    ResourceType::CseBase,
    ResourceType::FlexContainer,
    ResourceType::FlexContainerInstance,
    ResourceType::Group,
    ResourceType::MgmtObj,
    ResourceType::Node,
    ResourceType::Subscription,
    ResourceType::TimeSeries,
    ResourceType::TimeSeriesInstance,
];

/// Create the CSEBase on first start; refresh what the configuration decides
/// (`poa`, `srv`, `srt`) on every start.
pub fn ensure(cse: &Cse) -> CseResult<()> {
    let config = cse.config().clone();
    let ri = config.cse_id_bare().to_owned();
    let existing = cse.store().reader()?.get(&ri)?;
    let srt: Vec<u32> = SUPPORTED_TYPES.iter().map(|t| t.ty()).collect();
    let resource = match existing {
        Some(mut base) => {
            base.set("poa", json!(config.point_of_access));
            base.set("srv", json!(config.release_versions));
            base.set("srt", json!(srt));
            base
        }
        None => {
            let now = time::now_string();
            let mut attrs = Attrs::new();
            attrs.insert("ty".into(), json!(ResourceType::CseBase.ty()));
            attrs.insert("ri".into(), json!(ri));
            attrs.insert("rn".into(), json!(config.cse_name));
            attrs.insert("pi".into(), Value::String(String::new()));
            attrs.insert("ct".into(), json!(now));
            attrs.insert("lt".into(), json!(now));
            attrs.insert("csi".into(), json!(config.cse_id));
            attrs.insert("cst".into(), json!(1));
            // every binding speaks all three (urbis_codec)
            attrs.insert(
                "csz".into(),
                json!(["application/json", "application/cbor", "application/xml"]),
            );
            attrs.insert("poa".into(), json!(config.point_of_access));
            attrs.insert("srt".into(), json!(srt));
            attrs.insert("srv".into(), json!(config.release_versions));
            let mut base = Resource {
                ty: ResourceType::CseBase.ty(),
                path: config.cse_name.clone(),
                creator: config.admin_originator.clone(),
                attrs,
            };
            base.path = config.cse_name.clone();
            return match urbis_store::write_blocking(cse.store(), move |txn| Ok(txn.insert(&base)?))
            {
                // another node on the same database created it meanwhile
                Err(err) if err.rsc == urbis_model::Rsc::Conflict => ensure(cse),
                other => other,
            };
        }
    };
    urbis_store::write_blocking(cse.store(), move |txn| Ok(txn.update(&resource, true)?))
}
