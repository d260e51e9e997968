//! The fast path: the KPI inputs read straight from the store of an Urbis
//! process (the server's own report endpoint, `urbis kpi report --data-dir`),
//! behind the same [`DataSource`] trait as the oneM2M HTTP client.
//!
//! Over HTTP every reading travels as a JSON resource through discovery and
//! paging; here each container's instances are one indexed range scan whose
//! stored JSON is read in place for `ct` and `con` only
//! ([`ReadTxn::scan_children_json`]), and the containers are spread over a
//! few threads. The reduction is the one of
//! [`crate::fetch`], so both paths give the same numbers. It reads as the
//! CSE itself, without access control: it is for the platform's operator.

use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use urbis_store::{ReadTxn, Store, StoreError};

use crate::fetch::{DataSource, ReadingSpec, Series};
use crate::Error;

const CONTAINER: u32 = 3;
const CONTENT_INSTANCE: u32 = 4;
const MGMT_OBJ: u32 = 13;
const NODE: u32 = 14;

/// The two attributes of a stored contentInstance the KPIs need; serde skips
/// the others without building them.
#[derive(serde::Deserialize)]
struct StoredInstance<'a> {
    #[serde(borrow, default)]
    ct: Option<Cow<'a, str>>,
    #[serde(default)]
    con: Value,
}

pub struct StoreSource {
    store: Arc<dyn Store>,
    /// Structured path of the CSEBase (`cse-in`).
    cse_name: String,
    workers: usize,
}

fn store_error(e: StoreError) -> Error {
    Error::Platform(format!("store: {e}"))
}

impl StoreSource {
    pub fn new(store: Arc<dyn Store>, cse_name: &str) -> StoreSource {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(4));
        StoreSource {
            store,
            cse_name: cse_name.to_owned(),
            workers,
        }
    }

    fn cse_ri(&self, reader: &dyn ReadTxn) -> Result<String, Error> {
        reader
            .get_by_path(&self.cse_name)
            .map_err(store_error)?
            .map(|cse| cse.ri().to_owned())
            .ok_or_else(|| Error::Platform(format!("no CSEBase {:?} in the store", self.cse_name)))
    }

    /// One container's readings, in creation order.
    fn container_series(
        reader: &dyn ReadTxn,
        path: &str,
        spec: &ReadingSpec,
    ) -> Result<Series, Error> {
        let container = reader
            .get_by_path(path)
            .map_err(store_error)?
            .ok_or_else(|| Error::Platform(format!("{path} vanished while reading")))?;
        let mut series = Series::default();
        let mut unreadable = None;
        reader
            .scan_children_json(container.ri(), CONTENT_INSTANCE, &mut |json| {
                match serde_json::from_str::<StoredInstance>(json) {
                    Ok(cin) => series.add(&cin.con, cin.ct.as_deref(), spec),
                    Err(e) => unreadable = Some(e),
                }
            })
            .map_err(store_error)?;
        if let Some(e) = unreadable {
            return Err(Error::Platform(format!(
                "store: an instance of {path} is corrupt: {e}"
            )));
        }
        Ok(series)
    }
}

/// The methods block the calling thread while they read (inside a server,
/// call them from `spawn_blocking`).
impl DataSource for StoreSource {
    async fn containers(&self, label: &str) -> Result<Vec<String>, Error> {
        let reader = self.store.reader().map_err(store_error)?;
        Ok(reader
            .descendants_with_label(&self.cse_name, label)
            .map_err(store_error)?
            .into_iter()
            .filter(|r| r.ty == CONTAINER)
            .map(|r| r.path)
            .collect())
    }

    async fn device_types(&self) -> Result<Vec<String>, Error> {
        // mgmtObjs live under nodes, which live under the CSEBase: two indexed
        // scans instead of a search through every resource
        let reader = self.store.reader().map_err(store_error)?;
        let cse = self.cse_ri(&*reader)?;
        let mut out = Vec::new();
        for node in reader.children(&cse, Some(NODE)).map_err(store_error)? {
            for obj in reader
                .children(node.ri(), Some(MGMT_OBJ))
                .map_err(store_error)?
            {
                out.push(obj.str_attr("dty").unwrap_or("").to_owned());
            }
        }
        Ok(out)
    }

    async fn statistic_instances(&self) -> Result<Vec<(String, Value)>, Error> {
        let reader = self.store.reader().map_err(store_error)?;
        let path = format!("{}/{}", self.cse_name, crate::publish::STATISTICS_PATH);
        let Some(container) = reader.get_by_path(&path).map_err(store_error)? else {
            return Ok(Vec::new());
        };
        Ok(reader
            .children(container.ri(), Some(CONTENT_INSTANCE))
            .map_err(store_error)?
            .into_iter()
            .map(|mut cin| {
                let con = cin.attrs.remove("con").unwrap_or(Value::Null);
                (cin.path, con)
            })
            .collect())
    }

    async fn series(
        &self,
        containers: &[String],
        spec: &ReadingSpec<'_>,
    ) -> Result<Vec<Series>, Error> {
        let next = AtomicUsize::new(0);
        let done: Mutex<Vec<Option<Series>>> = Mutex::new(vec![None; containers.len()]);
        let first_error: Mutex<Option<Error>> = Mutex::new(None);
        let store = &*self.store;
        std::thread::scope(|scope| {
            for _ in 0..self.workers.min(containers.len()) {
                scope.spawn(|| {
                    let work = || -> Result<(), Error> {
                        let reader = store.reader().map_err(store_error)?;
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(path) = containers.get(i) else {
                                return Ok(());
                            };
                            let series = Self::container_series(&*reader, path, spec)?;
                            if let Ok(mut done) = done.lock() {
                                done[i] = Some(series);
                            }
                        }
                    };
                    if let Err(e) = work() {
                        // stop the other workers early
                        next.store(containers.len(), Ordering::Relaxed);
                        if let Ok(mut slot) = first_error.lock() {
                            slot.get_or_insert(e);
                        }
                    }
                });
            }
        });
        if let Some(e) = first_error.into_inner().ok().flatten() {
            return Err(e);
        }
        let done = done
            .into_inner()
            .map_err(|_| Error::Platform("a store reader panicked".into()))?;
        done.into_iter()
            .zip(containers)
            .map(|(s, path)| s.ok_or_else(|| Error::Platform(format!("{path} was not read"))))
            .collect()
    }
}
