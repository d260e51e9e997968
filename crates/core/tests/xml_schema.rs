//! XML needs to know each attribute's value kind (`urbis_codec::xml::schema`).
//! Every attribute of every hosted resource type, mgmtObj specializations
//! included, must be in that table with a kind that fits its type here, so a
//! new attribute cannot be forgotten there.

use urbis_codec::xml::schema::{attribute_kind, Kind};
use urbis_core::attributes::{AttrDef, AttrType, ANY_OTHER};
use urbis_core::registry;
use urbis_core::resources::mgmt_obj;

fn fits(ty: AttrType, kind: Kind) -> bool {
    match ty {
        AttrType::Str | AttrType::Timestamp => matches!(kind, Kind::Str),
        AttrType::Bool => kind == Kind::Bool,
        AttrType::NonNegInt | AttrType::PosInt | AttrType::Int | AttrType::Enum(_) => {
            kind == Kind::Num
        }
        AttrType::StrList | AttrType::NonEmptyStrList => {
            matches!(kind, Kind::StrList | Kind::StrRepeated)
        }
        AttrType::IntList | AttrType::EnumList(_) => {
            matches!(kind, Kind::NumList | Kind::NumRepeated)
        }
        AttrType::Object => matches!(kind, Kind::Object | Kind::Any),
        AttrType::List => matches!(
            kind,
            Kind::StrList
                | Kind::NumList
                | Kind::StrRepeated
                | Kind::NumRepeated
                | Kind::ObjectList
                | Kind::RefList
        ),
        AttrType::Any => true,
    }
}

fn check(owner: &str, sets: &[&[AttrDef]], problems: &mut Vec<String>) {
    for def in sets.iter().flat_map(|set| set.iter()) {
        if def.sn == ANY_OTHER {
            continue;
        }
        match attribute_kind(def.sn) {
            None => problems.push(format!(
                "{owner}: {} is not in the XML schema table",
                def.sn
            )),
            Some(kind) if !fits(def.ty, kind) => problems.push(format!(
                "{owner}: {} is {:?} here but {kind:?} in the XML schema table",
                def.sn, def.ty
            )),
            Some(_) => {}
        }
    }
}

#[test]
fn every_attribute_of_every_hosted_type_has_an_xml_kind() {
    let mut problems = Vec::new();
    let mut types = 0;
    for ty in 0..=u32::from(u16::MAX) {
        if let Some(kind) = registry::kind(ty) {
            types += 1;
            check(kind.ty.short_name(), kind.attrs, &mut problems);
        }
    }
    let mut specializations = 0;
    for mgd in 0..=2000 {
        if let Some(sets) = mgmt_obj::specialization_attrs(mgd) {
            specializations += 1;
            let owner = mgmt_obj::short_name(mgd).unwrap_or("mgmtObj");
            check(owner, &sets, &mut problems);
        }
    }
    assert!(types >= 13, "only {types} hosted types found");
    assert!(
        specializations >= 10,
        "only {specializations} mgmtObj specializations found"
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
