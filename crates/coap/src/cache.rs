//! A map whose entries expire after a fixed lifetime and whose size is
//! bounded: the oldest entry goes first when it is full. Every per-peer memory
//! of this binding (duplicate detection, block-wise transfers) is one of these,
//! so no peer can make the server grow without bound.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::{Duration, Instant};

pub struct Bounded<K, V> {
    entries: HashMap<K, (V, Instant)>,
    /// Insertion order; an entry re-inserted later leaves a stale record here
    /// that is skipped when it comes up.
    order: VecDeque<(K, Instant)>,
    lifetime: Duration,
    capacity: usize,
}

impl<K: Eq + Hash + Clone, V> Bounded<K, V> {
    pub fn new(lifetime: Duration, capacity: usize) -> Self {
        Bounded {
            entries: HashMap::new(),
            order: VecDeque::new(),
            lifetime,
            capacity: capacity.max(1),
        }
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.entries
            .get(key)
            .filter(|(_, at)| at.elapsed() < self.lifetime)
            .map(|(value, _)| value)
    }

    pub fn get_mut(&mut self, key: &K) -> Option<&mut V> {
        let lifetime = self.lifetime;
        self.entries
            .get_mut(key)
            .filter(|(_, at)| at.elapsed() < lifetime)
            .map(|(value, _)| value)
    }

    /// Insert (or replace, restarting its lifetime).
    pub fn insert(&mut self, key: K, value: V) {
        let now = Instant::now();
        self.evict(now);
        while self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            if !self.pop_oldest() {
                break;
            }
        }
        self.entries.insert(key.clone(), (value, now));
        self.order.push_back((key, now));
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.entries.remove(key).map(|(value, _)| value)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn values(&self) -> impl Iterator<Item = &V> {
        self.entries.values().map(|(value, _)| value)
    }

    /// Drop expired entries from the front of the insertion order.
    fn evict(&mut self, now: Instant) {
        while self
            .order
            .front()
            .is_some_and(|(_, at)| now.duration_since(*at) >= self.lifetime)
        {
            if let Some((key, at)) = self.order.pop_front() {
                // only the record of the entry's latest insertion removes it
                if self.entries.get(&key).is_some_and(|(_, t)| *t == at) {
                    self.entries.remove(&key);
                }
            }
        }
        // stale records pile up when the same keys are re-inserted often
        if self.order.len() > self.capacity * 4 {
            let entries = &self.entries;
            self.order
                .retain(|(key, at)| entries.get(key).is_some_and(|(_, t)| t == at));
        }
    }

    /// Remove the oldest live entry; false when there is none.
    pub fn pop_oldest(&mut self) -> bool {
        while let Some((key, at)) = self.order.pop_front() {
            if self.entries.get(&key).is_some_and(|(_, t)| *t == at) {
                self.entries.remove(&key);
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_by_capacity_oldest_first() {
        let mut cache = Bounded::new(Duration::from_secs(60), 2);
        cache.insert(1, "a");
        cache.insert(2, "b");
        cache.insert(1, "a2"); // refreshed: now 2 is the oldest
        cache.insert(3, "c");
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&2), None);
        assert_eq!(cache.get(&1), Some(&"a2"));
        assert_eq!(cache.get(&3), Some(&"c"));
    }

    #[test]
    fn entries_expire() {
        let mut cache = Bounded::new(Duration::from_millis(20), 10);
        cache.insert("k", 1);
        assert_eq!(cache.get(&"k"), Some(&1));
        std::thread::sleep(Duration::from_millis(30));
        assert_eq!(cache.get(&"k"), None);
        cache.insert("other", 2);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn expiry_spares_entries_refreshed_since() {
        let mut cache = Bounded::new(Duration::from_millis(40), 10);
        cache.insert("old", 1);
        cache.insert("young", 2);
        std::thread::sleep(Duration::from_millis(25));
        cache.insert("old", 3); // refreshed: its first record is stale now
        std::thread::sleep(Duration::from_millis(25));
        cache.insert("new", 4); // "young" expired, "old" has not
        assert_eq!(cache.get(&"young"), None);
        assert_eq!(cache.get(&"old"), Some(&3));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn stale_order_records_do_not_grow_without_bound() {
        let mut cache = Bounded::new(Duration::from_secs(60), 4);
        for i in 0..1000 {
            cache.insert(i % 3, i);
        }
        assert!(cache.order.len() <= 4 * 4 + 1);
        assert_eq!(cache.len(), 3);
    }
}
