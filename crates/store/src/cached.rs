//! The cache policy, written once over a store's plain (uncached) queries.
//!
//! A store implements [`ReadTxn`] and [`WriteTxn`] as bare SQL; wrapping those
//! in [`CachedReader`] (readers) or [`JobTxn`] (a job on the writer) adds the
//! cache the same way for every store. The rules are in `cache.rs`.
//!
//! The cache is only right while this process is the only writer of the
//! database. Where several nodes share a PostgreSQL database the cache is
//! disabled (`Cache::disabled`): every lookup below falls through to `raw`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use urbis_model::Resource;

use crate::cache::{self, Cache, Change};
use crate::{ReadTxn, StoreResult, WriteTxn};

const SUBSCRIPTION: u32 = 23;

/// A reader: the cache first, the database (`raw`) on a miss, filling the cache.
pub(crate) struct CachedReader<'c, R> {
    pub(crate) raw: R,
    pub(crate) cache: &'c Cache,
}

impl<R: ReadTxn> ReadTxn for CachedReader<'_, R> {
    fn get(&self, ri: &str) -> StoreResult<Option<Resource>> {
        if let Some(hit) = self.cache.get(ri) {
            return Ok(Some((*hit).clone()));
        }
        let seen = self.cache.generation();
        let found = self.raw.get(ri)?;
        if let Some(resource) = &found {
            self.cache.fill(seen, resource);
        }
        Ok(found)
    }
    fn get_by_path(&self, path: &str) -> StoreResult<Option<Resource>> {
        if let Some(hit) = self.cache.get_by_path(path) {
            return Ok(Some((*hit).clone()));
        }
        let seen = self.cache.generation();
        let found = self.raw.get_by_path(path)?;
        if let Some(resource) = &found {
            self.cache.fill(seen, resource);
        }
        Ok(found)
    }
    fn children(&self, pi: &str, ty: Option<u32>) -> StoreResult<Vec<Resource>> {
        if ty == Some(SUBSCRIPTION) && !self.cache.is_watched(pi) {
            return Ok(Vec::new());
        }
        self.raw.children(pi, ty)
    }
    fn count_children(&self, pi: &str, ty: u32) -> StoreResult<u64> {
        self.raw.count_children(pi, ty)
    }
    fn edge_child(&self, pi: &str, ty: u32, newest: bool) -> StoreResult<Option<Resource>> {
        if !(newest && cache::is_instance(ty)) {
            return self.raw.edge_child(pi, ty, newest);
        }
        if let Some(hit) = self.cache.latest(pi).filter(|l| l.ty == ty) {
            return Ok(Some((*hit).clone()));
        }
        let seen = self.cache.generation();
        let found = self.raw.edge_child(pi, ty, true)?;
        if let Some(instance) = &found {
            self.cache.fill_latest(seen, pi, instance);
        }
        Ok(found)
    }
    fn descendants(&self, path: &str) -> StoreResult<Vec<Resource>> {
        self.raw.descendants(path)
    }
    fn descendants_except(&self, path: &str, skip: &[u32]) -> StoreResult<Vec<Resource>> {
        self.raw.descendants_except(path, skip)
    }
    fn descendant_ids(&self, path: &str) -> StoreResult<Vec<String>> {
        self.raw.descendant_ids(path)
    }
    fn descendants_with_label(&self, path: &str, label: &str) -> StoreResult<Vec<Resource>> {
        self.raw.descendants_with_label(path, label)
    }
    fn of_type(&self, ty: u32) -> StoreResult<Vec<Resource>> {
        self.raw.of_type(ty)
    }
    // never cached: the database's index answers (and, on the writer, sees
    // the group's uncommitted rows)
    fn nodes_with_id(&self, ni: &str) -> StoreResult<Vec<Resource>> {
        self.raw.nodes_with_id(ni)
    }
    fn instance_with_dgt(&self, pi: &str, dgt: &str) -> StoreResult<Option<Resource>> {
        self.raw.instance_with_dgt(pi, dgt)
    }
    fn expired(&self, now: &str, limit: usize) -> StoreResult<Vec<Resource>> {
        self.raw.expired(now, limit)
    }
    fn scan_children_json(
        &self,
        pi: &str,
        ty: u32,
        visit: &mut dyn FnMut(&str),
    ) -> StoreResult<()> {
        self.raw.scan_children_json(pi, ty, visit)
    }
}

/// What a group of jobs changed so far: the writer bypasses the cache for it,
/// and publishes it once the group is committed.
#[derive(Default)]
pub(crate) struct GroupChanges {
    touched: HashSet<String>,
    removed: Vec<String>,
    /// The newest version of each resource (not instance) that a kept job of
    /// this group wrote. Later jobs of the group read it here: a container
    /// updated by every create of a group would otherwise be read back and
    /// decoded from the database once per create.
    written: HashMap<String, Arc<Resource>>,
    pub(crate) changes: Vec<Change>,
}

impl GroupChanges {
    /// Keep a job's changes: they are published with the group, and later
    /// jobs read what it wrote.
    pub(crate) fn keep(&mut self, job: Vec<Change>) {
        for change in &job {
            if let Change::Put(resource) = change {
                self.written
                    .insert(resource.ri().to_owned(), Arc::clone(resource));
            }
        }
        self.changes.extend(job);
    }

    /// Forget everything (the group's transaction was rolled back).
    pub(crate) fn discard(&mut self) {
        self.changes.clear();
        self.written.clear();
    }

    fn removed_covers(&self, path: &str) -> bool {
        self.removed.iter().any(|r| {
            path == r
                || (path.starts_with(r.as_str()) && path.as_bytes().get(r.len()) == Some(&b'/'))
        })
    }
}

/// One job's view on the writer: the group's transaction (`raw`), plus the
/// cache for whatever the group has not touched.
pub(crate) struct JobTxn<'a, W> {
    raw: W,
    cache: &'a Cache,
    group: &'a mut GroupChanges,
    /// This job's changes; kept only if the job succeeds.
    job: Vec<Change>,
}

impl<'a, W: WriteTxn> JobTxn<'a, W> {
    pub(crate) fn new(raw: W, cache: &'a Cache, group: &'a mut GroupChanges) -> Self {
        JobTxn {
            raw,
            cache,
            group,
            job: Vec::new(),
        }
    }

    /// This job's changes, to be added to the group's if the job is kept.
    pub(crate) fn into_changes(self) -> Vec<Change> {
        self.job
    }

    /// What this job, or a kept job before it in the group, wrote to `ri`:
    /// the value the group's transaction holds, without asking the database.
    /// Whatever a delete in the group may have removed is asked for again.
    /// Never on a database shared by nodes: there the writer may commit part
    /// of a group early (rather than wait for a row lock while holding
    /// others), and another node may then change what this group wrote.
    fn written(&self, ri: &str) -> Option<&Arc<Resource>> {
        if self.cache.is_shared() {
            return None;
        }
        let own = self.job.iter().rev().find_map(|change| match change {
            Change::Put(resource) if resource.ri() == ri => Some(resource),
            _ => None,
        });
        own.or_else(|| self.group.written.get(ri))
            .filter(|resource| !self.group.removed_covers(&resource.path))
    }

    /// Before a write: the rest of the group reads this resource from the
    /// database, whether or not the write succeeds (a failed statement may
    /// still have changed rows of this job's savepoint).
    fn bypass(&mut self, resource: &Resource, update: bool) {
        if update && cache::is_instance(resource.ty) {
            self.group.removed.push(resource.path.clone());
        } else {
            self.group.touched.insert(resource.ri().to_owned());
        }
    }

    /// After a successful write: what to publish once the group commits.
    fn record(&mut self, resource: Arc<Resource>, update: bool) {
        if cache::is_instance(resource.ty) {
            if update {
                // an instance changed in place: drop it from `la` rather than
                // promote it (it may not be the newest)
                self.job.push(Change::RemoveTree(resource.path.clone()));
            } else {
                self.job.push(Change::Latest {
                    holder: resource.pi().to_owned(),
                    instance: resource,
                });
            }
            return;
        }
        if resource.ty == SUBSCRIPTION {
            self.cache.watch(resource.pi());
        }
        self.job.push(Change::Put(resource));
    }
}

impl<W: WriteTxn> ReadTxn for JobTxn<'_, W> {
    fn get(&self, ri: &str) -> StoreResult<Option<Resource>> {
        if let Some(written) = self.written(ri) {
            return Ok(Some((**written).clone()));
        }
        let untouched = !self.group.touched.contains(ri);
        if untouched {
            if let Some(hit) = self
                .cache
                .get(ri)
                .filter(|r| !self.group.removed_covers(&r.path))
            {
                return Ok(Some((*hit).clone()));
            }
        }
        let found = self.raw.get(ri)?;
        if let Some(resource) = &found {
            if untouched && !self.group.removed_covers(&resource.path) {
                // not changed by this group, so this is the committed value
                self.cache.fill(self.cache.generation(), resource);
            }
        }
        Ok(found)
    }
    fn get_by_path(&self, path: &str) -> StoreResult<Option<Resource>> {
        if !self.group.removed_covers(path) {
            if let Some(hit) = self
                .cache
                .get_by_path(path)
                .filter(|r| !self.group.touched.contains(r.ri()))
            {
                return Ok(Some((*hit).clone()));
            }
        }
        self.raw.get_by_path(path)
    }
    fn children(&self, pi: &str, ty: Option<u32>) -> StoreResult<Vec<Resource>> {
        if ty == Some(SUBSCRIPTION) && !self.cache.is_watched(pi) {
            return Ok(Vec::new());
        }
        self.raw.children(pi, ty)
    }
    fn count_children(&self, pi: &str, ty: u32) -> StoreResult<u64> {
        self.raw.count_children(pi, ty)
    }
    fn edge_child(&self, pi: &str, ty: u32, newest: bool) -> StoreResult<Option<Resource>> {
        self.raw.edge_child(pi, ty, newest)
    }
    fn descendants(&self, path: &str) -> StoreResult<Vec<Resource>> {
        self.raw.descendants(path)
    }
    fn descendants_except(&self, path: &str, skip: &[u32]) -> StoreResult<Vec<Resource>> {
        self.raw.descendants_except(path, skip)
    }
    fn descendant_ids(&self, path: &str) -> StoreResult<Vec<String>> {
        self.raw.descendant_ids(path)
    }
    fn descendants_with_label(&self, path: &str, label: &str) -> StoreResult<Vec<Resource>> {
        self.raw.descendants_with_label(path, label)
    }
    fn of_type(&self, ty: u32) -> StoreResult<Vec<Resource>> {
        self.raw.of_type(ty)
    }
    // never cached: the database's index answers (and, on the writer, sees
    // the group's uncommitted rows)
    fn nodes_with_id(&self, ni: &str) -> StoreResult<Vec<Resource>> {
        self.raw.nodes_with_id(ni)
    }
    fn instance_with_dgt(&self, pi: &str, dgt: &str) -> StoreResult<Option<Resource>> {
        self.raw.instance_with_dgt(pi, dgt)
    }
    fn expired(&self, now: &str, limit: usize) -> StoreResult<Vec<Resource>> {
        self.raw.expired(now, limit)
    }
    fn scan_children_json(
        &self,
        pi: &str,
        ty: u32,
        visit: &mut dyn FnMut(&str),
    ) -> StoreResult<()> {
        self.raw.scan_children_json(pi, ty, visit)
    }
}

impl<W: WriteTxn> WriteTxn for JobTxn<'_, W> {
    // One copy of the resource serves the store's log and the cache.
    fn insert(&mut self, resource: &Resource) -> StoreResult<()> {
        self.insert_shared(&Arc::new(resource.clone()))
    }

    fn update(&mut self, resource: &Resource, labels_changed: bool) -> StoreResult<()> {
        self.update_shared(&Arc::new(resource.clone()), labels_changed)
    }

    fn insert_shared(&mut self, resource: &Arc<Resource>) -> StoreResult<()> {
        self.bypass(resource, false);
        self.raw.insert_shared(resource)?;
        self.record(Arc::clone(resource), false);
        Ok(())
    }

    fn update_shared(&mut self, resource: &Arc<Resource>, labels_changed: bool) -> StoreResult<()> {
        self.bypass(resource, true);
        self.raw.update_shared(resource, labels_changed)?;
        self.record(Arc::clone(resource), true);
        Ok(())
    }

    fn lock(&mut self, ri: &str) -> StoreResult<Option<Resource>> {
        if self.cache.is_shared() {
            return self.raw.lock(ri);
        }
        self.get(ri)
    }

    fn delete_tree(&mut self, path: &str) -> StoreResult<usize> {
        self.group.removed.push(path.to_owned());
        self.job.push(Change::RemoveTree(path.to_owned()));
        self.raw.delete_tree(path)
    }

    // The outbox is not cached: it is read only at recovery.
    fn outbox_add(&mut self, entries: &[crate::OutboxEntry]) -> StoreResult<()> {
        self.raw.outbox_add(entries)
    }

    fn outbox_remove(&mut self, rqis: &[String]) -> StoreResult<usize> {
        self.raw.outbox_remove(rqis)
    }

    fn outbox_claim(&mut self, limit: usize) -> StoreResult<Vec<crate::OutboxEntry>> {
        self.raw.outbox_claim(limit)
    }

    fn outbox_list(&mut self, limit: usize) -> StoreResult<Vec<crate::OutboxEntry>> {
        self.raw.outbox_list(limit)
    }

    // Nor are pending batches: each is read and written inside one job.
    fn batch_add(&mut self, subscription: &str, item: &str, added_ms: i64) -> StoreResult<u64> {
        self.raw.batch_add(subscription, item, added_ms)
    }

    fn batch_take(&mut self, subscription: &str) -> StoreResult<Vec<String>> {
        self.raw.batch_take(subscription)
    }

    fn batches_pending(&mut self, subscription: Option<&str>) -> StoreResult<Vec<(String, i64)>> {
        self.raw.batches_pending(subscription)
    }
}
