//! A write-through cache of committed resources in front of the database.
//!
//! What it holds: every resource except instances (contentInstance,
//! timeSeriesInstance) by `ri` and by path; the newest instance of each holder
//! (`la`); and the set of resources that have subscriptions (so most writes
//! skip looking for subscribers).
//!
//! Why it stays right:
//! - only the writer publishes, and only what a group commit made durable;
//! - a reader that missed fills the cache only if no commit was published
//!   since it started reading (a generation counter), so it never puts back a
//!   value older than the cache's;
//! - the writer bypasses the cache for anything its current group touched.
//!
//! Memory is bounded: past `capacity` entries the cache starts over.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;
use urbis_model::Resource;

/// Types that are not cached by ID (there are too many of them); only the
/// newest per holder is: contentInstance, timeSeriesInstance,
/// flexContainerInstance.
pub(crate) fn is_instance(ty: u32) -> bool {
    ty == 4 || ty == 30 || ty == 58
}

/// A committed change, applied in order at publication.
pub(crate) enum Change {
    Put(Arc<Resource>),
    RemoveTree(String),
    Latest {
        holder: String,
        instance: Arc<Resource>,
    },
}

#[derive(Default)]
struct State {
    by_ri: HashMap<String, Arc<Resource>>,
    by_path: BTreeMap<String, String>,
    latest: HashMap<String, Arc<Resource>>,
}

pub(crate) struct Cache {
    /// Off where other processes write the same database: nothing is kept,
    /// every lookup goes to the database.
    enabled: bool,
    state: RwLock<State>,
    watched: RwLock<HashSet<String>>,
    generation: AtomicU64,
    capacity: usize,
}

impl Cache {
    pub(crate) fn new(capacity: usize, watched: HashSet<String>) -> Cache {
        Cache {
            enabled: true,
            state: RwLock::new(State::default()),
            watched: RwLock::new(watched),
            generation: AtomicU64::new(0),
            capacity,
        }
    }

    /// A cache that holds nothing (another node's commit would leave it
    /// stale) and reports every resource as possibly watched.
    pub(crate) fn disabled() -> Cache {
        Cache {
            enabled: false,
            ..Cache::new(0, HashSet::new())
        }
    }

    /// Whether another process may change the data behind this cache.
    pub(crate) fn is_shared(&self) -> bool {
        !self.enabled
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub(crate) fn get(&self, ri: &str) -> Option<Arc<Resource>> {
        if !self.enabled {
            return None;
        }
        self.state.read().by_ri.get(ri).cloned()
    }

    pub(crate) fn get_by_path(&self, path: &str) -> Option<Arc<Resource>> {
        if !self.enabled {
            return None;
        }
        let state = self.state.read();
        state
            .by_path
            .get(path)
            .and_then(|ri| state.by_ri.get(ri))
            .cloned()
    }

    pub(crate) fn latest(&self, holder: &str) -> Option<Arc<Resource>> {
        if !self.enabled {
            return None;
        }
        self.state.read().latest.get(holder).cloned()
    }

    /// Whether `ri` has (or may have) subscription children.
    pub(crate) fn is_watched(&self, ri: &str) -> bool {
        !self.enabled || self.watched.read().contains(ri)
    }

    /// Record that `ri` gets a subscription. Never undone: a stale entry only
    /// costs a lookup.
    pub(crate) fn watch(&self, ri: &str) {
        if !self.is_watched(ri) {
            self.watched.write().insert(ri.to_owned());
        }
    }

    /// Cache a value read from the database, unless a commit was published
    /// after `seen` (the value may then be older than the cache's).
    pub(crate) fn fill(&self, seen: u64, resource: &Resource) {
        if !self.enabled || is_instance(resource.ty) {
            return;
        }
        let mut state = self.state.write();
        if self.generation() != seen {
            return;
        }
        self.make_room(&mut state);
        insert(&mut state, Arc::new(resource.clone()));
    }

    pub(crate) fn fill_latest(&self, seen: u64, holder: &str, instance: &Resource) {
        if !self.enabled {
            return;
        }
        let mut state = self.state.write();
        if self.generation() != seen {
            return;
        }
        self.make_room(&mut state);
        state
            .latest
            .insert(holder.to_owned(), Arc::new(instance.clone()));
    }

    /// Apply a committed group's changes, in order.
    pub(crate) fn publish(&self, changes: Vec<Change>) {
        if !self.enabled || changes.is_empty() {
            return;
        }
        let mut state = self.state.write();
        self.make_room(&mut state);
        for change in changes {
            match change {
                Change::Put(resource) => insert(&mut state, resource),
                Change::RemoveTree(path) => remove_tree(&mut state, &path),
                Change::Latest { holder, instance } => {
                    state.latest.insert(holder, instance);
                }
            }
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Forget everything (the watched set stays: a stale entry only costs a
    /// lookup). For when the database may hold changes that were never
    /// published, such as a commit whose outcome is unknown.
    pub(crate) fn reset(&self) {
        let mut state = self.state.write();
        *state = State::default();
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    fn make_room(&self, state: &mut State) {
        if state.by_ri.len() + state.latest.len() >= self.capacity {
            *state = State::default();
        }
    }
}

fn insert(state: &mut State, resource: Arc<Resource>) {
    let ri = resource.ri().to_owned();
    if let Some(old) = state.by_ri.get(&ri) {
        if old.path != resource.path {
            state.by_path.remove(&old.path);
        }
    }
    state.by_path.insert(resource.path.clone(), ri.clone());
    state.by_ri.insert(ri, resource);
}

/// Forget `path` and everything below it, and any `la` that pointed into it.
fn remove_tree(state: &mut State, path: &str) {
    let below = format!("{path}/");
    let end = format!("{path}0");
    let mut doomed: Vec<String> = state
        .by_path
        .range::<str, _>((
            Bound::Included(below.as_str()),
            Bound::Excluded(end.as_str()),
        ))
        .map(|(p, _)| p.clone())
        .collect();
    doomed.push(path.to_owned());
    for p in doomed {
        if let Some(ri) = state.by_path.remove(&p) {
            state.by_ri.remove(&ri);
            state.latest.remove(&ri);
        }
    }
    // `path` may be an instance that was its holder's newest
    if let Some((holder_path, _)) = path.rsplit_once('/') {
        if let Some(holder) = state.by_path.get(holder_path).cloned() {
            if state.latest.get(&holder).is_some_and(|l| l.path == path) {
                state.latest.remove(&holder);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn res(ri: &str, ty: u32, path: &str) -> Resource {
        let mut attrs = urbis_model::Attrs::new();
        attrs.insert("ri".into(), json!(ri));
        Resource {
            ty,
            path: path.into(),
            creator: String::new(),
            attrs,
        }
    }

    #[test]
    fn publish_and_remove_subtrees() {
        let cache = Cache::new(100, HashSet::new());
        cache.publish(vec![
            Change::Put(Arc::new(res("a", 2, "cse/a"))),
            Change::Put(Arc::new(res("c", 3, "cse/a/c"))),
            Change::Latest {
                holder: "c".into(),
                instance: Arc::new(res("i", 4, "cse/a/c/i")),
            },
            Change::Put(Arc::new(res("b", 2, "cse/ab"))),
        ]);
        assert_eq!(cache.get_by_path("cse/a/c").unwrap().ri(), "c");
        assert_eq!(cache.latest("c").unwrap().ri(), "i");
        cache.publish(vec![Change::RemoveTree("cse/a/c/i".into())]);
        assert!(cache.latest("c").is_none(), "la removed with its instance");
        cache.publish(vec![Change::RemoveTree("cse/a".into())]);
        assert!(cache.get("a").is_none() && cache.get("c").is_none());
        assert_eq!(
            cache.get("b").unwrap().path,
            "cse/ab",
            "sibling with a common prefix survives"
        );
    }

    #[test]
    fn stale_fills_are_refused() {
        let cache = Cache::new(100, HashSet::new());
        let seen = cache.generation();
        cache.publish(vec![Change::Put(Arc::new(res("a", 2, "cse/a")))]);
        cache.fill(seen, &res("old", 2, "cse/old"));
        assert!(cache.get("old").is_none());
        cache.fill(cache.generation(), &res("new", 2, "cse/new"));
        assert!(cache.get("new").is_some());
    }

    #[test]
    fn bounded() {
        let cache = Cache::new(3, HashSet::new());
        for i in 0..10 {
            cache.fill(
                cache.generation(),
                &res(&format!("r{i}"), 2, &format!("cse/r{i}")),
            );
        }
        assert!(cache.state.read().by_ri.len() <= 3);
    }
}
