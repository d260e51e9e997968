//! The resource type registry: one [`Kind`] per hosted type, each defined in its
//! own module under `resources/`. Adding a type is one module plus one line here.

use std::future::Future;
use std::pin::Pin;

use urbis_model::{Attrs, CseResult, Request, Resource, ResourceType};
use urbis_store::{ReadTxn, WriteTxn};

use crate::attributes::AttrDef;
use crate::config::CseConfig;
use crate::notify::Notification;
use crate::resources;
use crate::Cse;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A hosted resource type: its attributes, where it may live, and its behaviour.
pub struct Kind {
    pub ty: ResourceType,
    /// Attribute sets (the type's own plus shared ones such as `UNIVERSAL`).
    pub attrs: &'static [&'static [AttrDef]],
    /// Types this type may be created under.
    pub parents: &'static [ResourceType],
    /// Whether access to it is decided by its own `acpi` (false: by its parent's).
    pub own_acpi: bool,
    /// Prefix of generated resource IDs and names.
    pub id_prefix: &'static str,
    pub hooks: &'static (dyn Hooks + Sync),
}

/// What a hook may read while a request is being checked, before anything is written.
pub struct ReadCtx<'a> {
    pub config: &'a CseConfig,
    pub reader: &'a dyn ReadTxn,
    pub request: &'a Request,
    pub originator: &'a str,
}

/// What a hook may touch inside the write job.
pub struct WriteCtx<'a> {
    pub config: &'a CseConfig,
    pub txn: &'a mut dyn WriteTxn,
    pub originator: &'a str,
    pub now: &'a str,
    /// Notifications to send once the job is committed.
    pub notifications: &'a mut Vec<Notification>,
    /// For UPDATE: the attributes the request changes.
    pub changes: Option<&'a Attrs>,
}

/// Behaviour of a resource type. Every method has a do-nothing default.
pub trait Hooks {
    /// Check and complete a new resource before it is written (read phase).
    fn validate_create(
        &self,
        _ctx: &ReadCtx<'_>,
        _parent: &Resource,
        _resource: &mut Resource,
    ) -> CseResult<()> {
        Ok(())
    }
    /// Asynchronous checks that talk to the outside world (subscription verification).
    fn verify_create<'a>(
        &'a self,
        _cse: &'a Cse,
        _resource: &'a Resource,
    ) -> Option<BoxFuture<'a, CseResult<()>>> {
        None
    }
    /// Runs in the write job after the resource is inserted; returns true when it
    /// changed `parent` (the caller writes it back).
    fn on_create(
        &self,
        _ctx: &mut WriteCtx<'_>,
        _parent: &mut Resource,
        _resource: &mut Resource,
    ) -> CseResult<bool> {
        Ok(false)
    }
    /// Check an UPDATE's changes against the current resource (read phase).
    fn validate_update(
        &self,
        _ctx: &ReadCtx<'_>,
        _current: &Resource,
        _changes: &Attrs,
    ) -> CseResult<()> {
        Ok(())
    }
    /// Asynchronous checks for an UPDATE (verification of new notification targets).
    fn verify_update<'a>(
        &'a self,
        _cse: &'a Cse,
        _updated: &'a Resource,
        _changes: &'a Attrs,
    ) -> Option<BoxFuture<'a, CseResult<()>>> {
        None
    }
    /// Runs in the write job after the changes are applied, before the write.
    fn on_update(
        &self,
        _ctx: &mut WriteCtx<'_>,
        _previous: &Resource,
        _resource: &mut Resource,
    ) -> CseResult<()> {
        Ok(())
    }
    /// Runs in the write job for each resource of a deleted subtree, before the delete.
    fn on_delete(
        &self,
        _ctx: &mut WriteCtx<'_>,
        _resource: &Resource,
        _root_of_delete: bool,
    ) -> CseResult<()> {
        Ok(())
    }
    /// Adjust a representation before it leaves the CSE (virtual attributes).
    fn on_retrieve(&self, _config: &CseConfig, _resource: &mut Resource) {}
    /// After a CREATE is committed: start background work the new resource
    /// needs (it must not fail the request, which already succeeded).
    fn created(&self, _cse: &Cse, _resource: &Resource) {}
    /// After an UPDATE is committed, with the attributes it changed.
    fn updated(&self, _cse: &Cse, _resource: &Resource, _changes: &Attrs) {}
}

/// The kind for a type number, if Urbis hosts it.
pub fn kind(ty: u32) -> Option<&'static Kind> {
    Some(match ResourceType::from_ty(ty)? {
        ResourceType::AccessControlPolicy => &resources::acp::KIND,
        ResourceType::Ae => &resources::ae::KIND,
        ResourceType::Container => &resources::container::KIND,
        ResourceType::ContentInstance => &resources::content_instance::KIND,
        ResourceType::CseBase => &resources::cse_base::KIND,
        ResourceType::FlexContainer => &resources::flex_container::KIND,
        ResourceType::FlexContainerInstance => &resources::flex_container::INSTANCE_KIND,
        ResourceType::Group => &resources::group::KIND,
        ResourceType::MgmtObj => &resources::mgmt_obj::KIND,
        ResourceType::Node => &resources::node::KIND,
        ResourceType::PollingChannel => &resources::polling_channel::KIND,
        ResourceType::Subscription => &resources::subscription::KIND,
        ResourceType::TimeSeries => &resources::time_series::SERIES_KIND,
        ResourceType::TimeSeriesInstance => &resources::time_series::INSTANCE_KIND,
        _ => return None,
    })
}

/// The root key of a resource's representation (`m2m:cnt`; a specialization's
/// own name for mgmtObj and flexContainer).
pub fn root_key(resource: &Resource) -> &str {
    if let Some(key) = resources::flex_container::stored_root_key(resource) {
        return key;
    }
    if resource.ty == ResourceType::MgmtObj.ty() {
        if let Some(sn) = resource
            .u64_attr("mgd")
            .and_then(resources::mgmt_obj::short_name)
        {
            return sn;
        }
    }
    ResourceType::from_ty(resource.ty)
        .map(ResourceType::short_name)
        .unwrap_or("m2m:unknown")
}

/// The attribute sets that apply to a CREATE with this root key, if the key
/// fits the type (`m2m:cnt` for ty 3; a specialization's name for mgmtObj
/// and flexContainer).
pub fn attrs_for_create(kind: &'static Kind, root_key: &str) -> Option<Vec<&'static [AttrDef]>> {
    if resources::flex_container::is_flex_type(kind.ty) {
        return resources::flex_container::accepts_root_key(kind.ty, root_key)
            .then(|| kind.attrs.to_vec());
    }
    if kind.ty == ResourceType::MgmtObj {
        let mgd = resources::mgmt_obj::mgd_for(root_key)?;
        return resources::mgmt_obj::specialization_attrs(mgd).map(|sets| sets.to_vec());
    }
    (root_key == kind.ty.short_name()).then(|| kind.attrs.to_vec())
}

/// The attribute sets of an existing resource.
pub fn attrs_of(kind: &'static Kind, resource: &Resource) -> Vec<&'static [AttrDef]> {
    if kind.ty == ResourceType::MgmtObj {
        if let Some(sets) = resource
            .u64_attr("mgd")
            .and_then(resources::mgmt_obj::specialization_attrs)
        {
            return sets.to_vec();
        }
    }
    kind.attrs.to_vec()
}

/// Whether `sn` is an attribute of any hosted type (unknown query parameters
/// are refused rather than silently matching nothing).
pub fn is_known_attribute(sn: &str) -> bool {
    const TYPES: &[u32] = &[1, 2, 3, 4, 5, 9, 13, 14, 15, 23, 28, 29, 30, 58];
    TYPES.iter().filter_map(|ty| kind(*ty)).any(|kind| {
        kind.attrs
            .iter()
            .flat_map(|set| set.iter())
            .any(|d| d.sn == sn && d.sn != crate::attributes::ANY_OTHER)
    }) || resources::mgmt_obj::is_specialization_attribute(sn)
}
