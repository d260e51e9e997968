//! `<node>` (ty 14): a physical or virtual M2M node, parent of its mgmtObjs.

use urbis_model::ResourceType;

use crate::attr;
use crate::attributes::{AttrDef, ACPI, ANNOUNCE, CREATOR, UNIVERSAL};
use crate::registry::{Hooks, Kind};

const OWN: &[AttrDef] = &[
    attr!("ni", Str, M, O),
    attr!("hcl", Str, O, O),
    attr!("hael", StrList, O, O),
    attr!("hsl", StrList, O, O),
    attr!("mgca", Any, O, O),
    attr!("rms", Bool, NP, NP),
    attr!("nid", Str, NP, NP),
    attr!("nty", NonNegInt, O, O),
    attr!("loc", Any, O, O),
];

pub static KIND: Kind = Kind {
    ty: ResourceType::Node,
    attrs: &[UNIVERSAL, ACPI, ANNOUNCE, CREATOR, OWN],
    parents: &[ResourceType::CseBase, ResourceType::RemoteCse],
    own_acpi: true,
    id_prefix: "nod",
    hooks: &NodeHooks,
};

struct NodeHooks;

impl Hooks for NodeHooks {}
