//! What a write group did so far, kept on the writer in front of the
//! database; shared by both stores' writers.
//!
//! A job's writes are logged here in order. Some are not sent to the
//! database at once:
//! - attribute updates that leave labels alone (container counters: `cni`,
//!   `cbs`, `st`) are written at COMMIT, one row version per resource however
//!   many jobs of the group changed it;
//! - inserts of resources named by the CSE (`rn` = `ri`) wait for the next
//!   statement or the COMMIT (and should one clash after all, the whole group
//!   fails, never half of it).
//!
//! So a job that only creates an instance sends nothing while it runs, and
//! needs no savepoint: the savepoint is set only before a job's first
//! statement. Reads on the writer see the group's writes: what the database
//! returns is patched with the log.

use std::collections::HashMap;
use std::sync::Arc;

use urbis_model::Resource;

use crate::StoreError;

const NODE: u32 = 14;

/// The running job's savepoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Savepoint {
    /// No job is running.
    #[default]
    None,
    /// A job runs and has sent nothing yet: nothing to undo.
    Wanted,
    /// `SAVEPOINT job` has gone out (or is queued ahead of a statement).
    Set,
}

/// Where a logged write stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// In the database (sent with its job).
    Applied,
    /// A new resource, sent ahead of the next statement or with COMMIT.
    PendingInsert,
    /// New attributes, written with COMMIT.
    PendingUpdate,
}

/// What a write did, in the order the jobs did it.
pub(crate) enum Entry {
    /// The resource's newest attributes. `inserted`: this group created it
    /// (nobody else sees the row, so it needs no lock).
    Wrote {
        resource: Arc<Resource>,
        state: State,
        inserted: bool,
    },
    /// `path` and everything below it were deleted.
    Deleted(String),
}

/// The open group's state on the writer.
#[derive(Default)]
pub(crate) struct GroupLog {
    /// `BEGIN` has gone out.
    pub(crate) open: bool,
    /// The running job's number, for undoing its entries.
    pub(crate) job: u32,
    pub(crate) savepoint: Savepoint,
    /// The running job has locked or written a row in the database.
    pub(crate) job_touched: bool,
    /// Private: [`GroupLog::push`] keeps the indexes below in step.
    log: Vec<(u32, Entry)>,
    /// Where the newest write of each resource ID, and of each path, stands
    /// in `log`, and where the deletes stand: lookups stay cheap in a group
    /// of thousands of jobs.
    by_ri: HashMap<String, usize>,
    by_path: HashMap<String, usize>,
    deletes: Vec<usize>,
    /// Rows this transaction holds locks on, by the job that took them
    /// (a rolled-back savepoint releases its locks).
    pub(crate) locked: Vec<(u32, String)>,
    /// Subscriptions by parent, for parents nobody else can add any to.
    pub(crate) subscriptions: HashMap<String, Vec<Resource>>,
}

impl GroupLog {
    /// Forget the group, keeping the buffers for the next one.
    pub(crate) fn reset(&mut self) {
        self.open = false;
        self.job = 0;
        self.savepoint = Savepoint::None;
        self.job_touched = false;
        self.log.clear();
        self.by_ri.clear();
        self.by_path.clear();
        self.deletes.clear();
        self.locked.clear();
        self.subscriptions.clear();
    }

    /// A new job starts: its savepoint is set before its first statement.
    pub(crate) fn start_job(&mut self) {
        self.job += 1;
        self.savepoint = Savepoint::Wanted;
        self.job_touched = false;
    }

    /// Log a write of the running job.
    pub(crate) fn push(&mut self, entry: Entry) {
        self.log.push((self.job, entry));
        self.index(self.log.len() - 1);
    }

    /// Count the entry at `at` as the newest write of its resource ID and
    /// path, or as a delete.
    fn index(&mut self, at: usize) {
        match &self.log[at].1 {
            Entry::Wrote { resource, .. } => {
                self.by_ri.insert(resource.ri().to_owned(), at);
                self.by_path.insert(resource.path.clone(), at);
            }
            Entry::Deleted(_) => self.deletes.push(at),
        }
    }

    fn rebuild_indexes(&mut self) {
        self.by_ri.clear();
        self.by_path.clear();
        self.deletes.clear();
        for at in 0..self.log.len() {
            self.index(at);
        }
    }

    /// The resource written at `at`, unless a later delete of the group
    /// covers its path.
    fn surviving(&self, at: usize) -> Option<&Arc<Resource>> {
        let Entry::Wrote { resource, .. } = &self.log[at].1 else {
            return None;
        };
        let deleted_since = self.deletes.iter().rev().take_while(|&&d| d > at).any(
            |&d| matches!(&self.log[d].1, Entry::Deleted(root) if covers(root, &resource.path)),
        );
        (!deleted_since).then_some(resource)
    }

    /// The group's own view of `ri`: `Some(None)` if it deleted it.
    pub(crate) fn find(&self, ri: &str) -> Option<Option<&Arc<Resource>>> {
        let at = *self.by_ri.get(ri)?;
        Some(self.surviving(at))
    }

    pub(crate) fn find_path(&self, path: &str) -> Option<&Arc<Resource>> {
        let at = *self.by_path.get(path)?;
        self.surviving(at)
    }

    /// A row read from the database, as this group left it.
    pub(crate) fn patch(&self, resource: Resource) -> Option<Resource> {
        if self.log.is_empty() {
            return Some(resource);
        }
        match self.find(resource.ri()) {
            Some(Some(newer)) => Some((**newer).clone()),
            Some(None) => None,
            None => Some(resource),
        }
    }

    pub(crate) fn patch_all(&self, rows: Vec<Resource>) -> Vec<Resource> {
        rows.into_iter().filter_map(|r| self.patch(r)).collect()
    }

    /// The newest value of every resource of type `ty` this group wrote and
    /// did not delete since.
    pub(crate) fn written_of_type(&self, ty: u32) -> Vec<&Arc<Resource>> {
        let mut ris: Vec<&str> = Vec::new();
        for (_, entry) in &self.log {
            if let Entry::Wrote { resource, .. } = entry {
                if resource.ty == ty && !ris.contains(&resource.ri()) {
                    ris.push(resource.ri());
                }
            }
        }
        ris.into_iter()
            .filter_map(|ri| self.find(ri).flatten())
            .collect()
    }

    /// The `<node>`s whose `ni` is `ni`, as the group left them: the rows
    /// the database `found` (it has the group's inserts but not its deferred
    /// updates, so a node whose `ni` the group changed is found under its old
    /// `ni`) patched and checked again, plus the group's own nodes.
    pub(crate) fn nodes_with_id(&self, found: Vec<Resource>, ni: &str) -> Vec<Resource> {
        let mut nodes: Vec<Resource> = self
            .patch_all(found)
            .into_iter()
            .filter(|r| r.str_attr("ni") == Some(ni))
            .collect();
        for own in self.written_of_type(NODE) {
            if own.str_attr("ni") == Some(ni) && !nodes.iter().any(|r| r.ri() == own.ri()) {
                nodes.push((**own).clone());
            }
        }
        nodes
    }

    /// The expired rows the database `found`, as the group left them: rows
    /// whose `et` the group extended are dropped; one whose `et` it
    /// shortened shows up after COMMIT (the sweeper reads there).
    pub(crate) fn still_expired(&self, found: Vec<Resource>, now: &str) -> Vec<Resource> {
        self.patch_all(found)
            .into_iter()
            .filter(|r| r.et().is_some_and(|et| et < now))
            .collect()
    }

    pub(crate) fn holds_lock(&self, ri: &str) -> bool {
        self.locked.iter().any(|(_, r)| r == ri)
            || self.log.iter().any(|(_, e)| {
                matches!(e, Entry::Wrote { resource, inserted: true, .. } if resource.ri() == ri)
            })
    }

    pub(crate) fn has_pending(&self) -> bool {
        self.log
            .iter()
            .any(|(_, e)| matches!(e, Entry::Wrote { state, .. } if *state != State::Applied))
    }

    /// The pending inserts of the jobs `which` selects, in the order they
    /// were made, now counted as sent: the caller sends them.
    pub(crate) fn take_inserts(&mut self, which: impl Fn(u32) -> bool) -> Vec<Arc<Resource>> {
        let mut batch = Vec::new();
        for (job, entry) in self.log.iter_mut() {
            if let Entry::Wrote {
                resource, state, ..
            } = entry
            {
                if *state == State::PendingInsert && which(*job) {
                    *state = State::Applied;
                    batch.push(resource.clone());
                }
            }
        }
        batch
    }

    /// Refuse a CSE-named insert that clashes with what the group wrote (a
    /// clash with an older row fails the group when the insert is sent).
    pub(crate) fn check_new(&self, resource: &Resource) -> Result<(), StoreError> {
        if self.find_path(&resource.path).is_some() {
            return Err(StoreError::Duplicate { what: "name" });
        }
        if let Some(Some(_)) = self.find(resource.ri()) {
            return Err(StoreError::Duplicate {
                what: "resource ID",
            });
        }
        Ok(())
    }

    /// The newest value of every resource whose update waits for COMMIT,
    /// leaving out those the group deleted since.
    pub(crate) fn deferred(&self) -> Vec<&Resource> {
        let mut newest: HashMap<&str, (usize, State)> = HashMap::new();
        for (i, (_, entry)) in self.log.iter().enumerate() {
            if let Entry::Wrote {
                resource, state, ..
            } = entry
            {
                newest.insert(resource.ri(), (i, *state));
            }
        }
        let mut pending: Vec<usize> = newest
            .into_values()
            .filter(|(_, state)| *state == State::PendingUpdate)
            .map(|(i, _)| i)
            .collect();
        pending.sort_unstable();
        pending
            .into_iter()
            .filter_map(|i| match &self.log[i].1 {
                Entry::Wrote { resource, .. } => Some(resource.as_ref()),
                Entry::Deleted(_) => None,
            })
            .filter(|resource| matches!(self.find(resource.ri()), Some(Some(_))))
            .collect()
    }

    pub(crate) fn undo_job(&mut self) {
        let job = self.job;
        if self.log.iter().any(|(j, _)| *j == job) {
            self.log.retain(|(j, _)| *j != job);
            self.rebuild_indexes();
        }
        self.locked.retain(|(j, _)| *j != job);
        self.subscriptions.clear();
    }
}

/// Whether `path` is `root` or below it.
pub(crate) fn covers(root: &str, path: &str) -> bool {
    path == root || (path.starts_with(root) && path.as_bytes().get(root.len()) == Some(&b'/'))
}

/// Whether the CSE named the resource (its name is its resource ID): such a
/// name cannot clash unless someone chose that very name before.
pub(crate) fn named_by_cse(resource: &Resource) -> bool {
    !resource.ri().is_empty()
        && resource
            .path
            .strip_suffix(resource.ri())
            .is_some_and(|parent| parent.ends_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use urbis_model::Attrs;

    fn wrote(ri: &str, path: &str, cni: u64) -> Entry {
        let mut attrs = Attrs::new();
        attrs.insert("ri".into(), ri.into());
        attrs.insert("cni".into(), cni.into());
        Entry::Wrote {
            resource: Arc::new(Resource {
                ty: 3,
                path: path.into(),
                creator: "CAdmin".into(),
                attrs,
            }),
            state: State::PendingUpdate,
            inserted: false,
        }
    }

    fn cni(found: Option<&Arc<Resource>>) -> Option<u64> {
        found.and_then(|r| r.u64_attr("cni"))
    }

    #[test]
    fn lookups_see_the_newest_write_and_later_deletes() {
        let mut log = GroupLog::default();
        log.start_job();
        log.push(wrote("c1", "cse/ae/c1", 1));
        log.push(wrote("c2", "cse/ae2/c2", 1));
        log.start_job();
        log.push(wrote("c1", "cse/ae/c1", 2));
        assert_eq!(cni(log.find("c1").flatten()), Some(2));
        assert_eq!(cni(log.find_path("cse/ae/c1")), Some(2));
        assert!(log.find("c3").is_none());
        log.push(Entry::Deleted("cse/ae".into()));
        assert!(
            matches!(log.find("c1"), Some(None)),
            "deleted below its root"
        );
        assert!(log.find_path("cse/ae/c1").is_none());
        assert_eq!(
            cni(log.find("c2").flatten()),
            Some(1),
            "a sibling tree stays"
        );
        // written again after the delete: found again
        log.push(wrote("c1", "cse/ae/c1", 3));
        assert_eq!(cni(log.find("c1").flatten()), Some(3));
        assert_eq!(log.deferred().len(), 2);
    }

    #[test]
    fn undoing_a_job_forgets_its_writes_and_deletes() {
        let mut log = GroupLog::default();
        log.start_job();
        log.push(wrote("c1", "cse/ae/c1", 1));
        log.start_job();
        log.push(wrote("c1", "cse/ae/c1", 2));
        log.push(Entry::Deleted("cse/ae".into()));
        log.undo_job();
        assert_eq!(cni(log.find("c1").flatten()), Some(1));
        assert_eq!(cni(log.find_path("cse/ae/c1")), Some(1));
        let newest: Vec<u64> = log
            .deferred()
            .iter()
            .filter_map(|r| r.u64_attr("cni"))
            .collect();
        assert_eq!(newest, [1]);
    }
}
