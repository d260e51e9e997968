//! The reader pool: threads that each own a read-only connection (and the
//! thread pool it is made of, which the mailboxes use too).
//!
//! A caller (often a Tokio worker) sends a query as a closure and blocks on
//! the answer, which is the same blocking profile as an SQLite read. Each call
//! goes to whichever thread is free; a reader handle holds no thread, so any
//! number of handles can be alive at once. Queries run in autocommit, each on
//! its own snapshot of committed data, as SQLite readers do.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use ::postgres::Config;
use parking_lot::Mutex;
use urbis_model::Resource;

use super::conn::{Conn, Raw};
use crate::{ReadTxn, StoreError, StoreResult};

type Request = Box<dyn FnOnce(&mut Conn) + Send>;

/// Threads that each own a connection and run what callers send them, one
/// call at a time; the readers' pool and the mailboxes' single thread.
pub(super) struct ConnThreads {
    requests: Option<mpsc::Sender<Request>>,
    threads: Vec<JoinHandle<()>>,
}

impl ConnThreads {
    /// Start `size` threads named `name-<i>`; fails if any of them cannot
    /// connect.
    pub(super) fn start(
        config: &Config,
        size: usize,
        name: &str,
        read_only: bool,
    ) -> StoreResult<ConnThreads> {
        let (requests, queue) = mpsc::channel::<Request>();
        let queue = Arc::new(Mutex::new(queue));
        let (ready_tx, ready) = mpsc::channel::<StoreResult<()>>();
        let mut pool = ConnThreads {
            requests: Some(requests),
            threads: Vec::with_capacity(size),
        };
        for i in 0..size {
            let (queue, config, ready_tx) = (queue.clone(), config.clone(), ready_tx.clone());
            let thread = std::thread::Builder::new()
                .name(format!("{name}-{i}"))
                .spawn(move || serve(&config, read_only, &queue, ready_tx))
                .map_err(|e| StoreError::Open(format!("cannot start thread {name}-{i}: {e}")))?;
            pool.threads.push(thread);
        }
        drop(ready_tx);
        for _ in 0..size {
            match ready.recv() {
                Ok(Ok(())) => {}
                Ok(Err(err)) => return Err(err),
                Err(_) => return Err(StoreError::Open(format!("a {name} thread died"))),
            }
        }
        Ok(pool)
    }

    /// Run `f` on a thread's connection (once it is usable) and wait for its
    /// answer.
    pub(super) fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Conn) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let requests = self.requests.as_ref().ok_or(StoreError::Closed)?;
        let (reply, answer) = mpsc::sync_channel(1);
        requests
            .send(Box::new(move |conn: &mut Conn| {
                let _ = reply.send(conn.ready().and_then(|()| f(conn)));
            }))
            .map_err(|_| StoreError::Closed)?;
        // A dropped reply means `f` panicked on the connection's thread.
        answer.recv().map_err(|_| StoreError::Closed)?
    }
}

fn serve(
    config: &Config,
    read_only: bool,
    queue: &Mutex<mpsc::Receiver<Request>>,
    ready: mpsc::Sender<StoreResult<()>>,
) {
    let mut conn = match Conn::open(config, read_only) {
        Ok(conn) => {
            let _ = ready.send(Ok(()));
            conn
        }
        Err(err) => {
            let _ = ready.send(Err(err));
            return;
        }
    };
    drop(ready);
    loop {
        let request = queue.lock().recv();
        let Ok(request) = request else {
            return; // the store is shut down
        };
        if catch_unwind(AssertUnwindSafe(|| request(&mut conn))).is_err() {
            tracing::error!("a PostgreSQL call panicked; its caller gets an error");
        }
    }
}

impl Drop for ConnThreads {
    fn drop(&mut self) {
        self.requests.take();
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// The reader pool: threads with read-only connections.
pub(super) struct Readers(ConnThreads);

impl Readers {
    /// Start `size` readers; fails if any of them cannot connect.
    pub(super) fn start(config: &Config, size: usize) -> StoreResult<Readers> {
        ConnThreads::start(config, size, "urbis-pg-reader", true).map(Readers)
    }

    /// Run `f` on a reader's connection and wait for its answer.
    fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Raw<'_>) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.0.run(move |conn| f(&Raw::new(conn)))
    }
}

/// The caller's side of a reader: each query is sent to the pool.
pub(super) struct Dispatch<'s> {
    pub(super) readers: &'s Readers,
}

impl ReadTxn for Dispatch<'_> {
    fn get(&self, ri: &str) -> StoreResult<Option<Resource>> {
        let ri = ri.to_owned();
        self.readers.call(move |raw| raw.get(&ri))
    }
    fn get_by_path(&self, path: &str) -> StoreResult<Option<Resource>> {
        let path = path.to_owned();
        self.readers.call(move |raw| raw.get_by_path(&path))
    }
    fn children(&self, pi: &str, ty: Option<u32>) -> StoreResult<Vec<Resource>> {
        let pi = pi.to_owned();
        self.readers.call(move |raw| raw.children(&pi, ty))
    }
    fn count_children(&self, pi: &str, ty: u32) -> StoreResult<u64> {
        let pi = pi.to_owned();
        self.readers.call(move |raw| raw.count_children(&pi, ty))
    }
    fn edge_child(&self, pi: &str, ty: u32, newest: bool) -> StoreResult<Option<Resource>> {
        let pi = pi.to_owned();
        self.readers
            .call(move |raw| raw.edge_child(&pi, ty, newest))
    }
    fn descendants(&self, path: &str) -> StoreResult<Vec<Resource>> {
        let path = path.to_owned();
        self.readers.call(move |raw| raw.descendants(&path))
    }
    fn descendants_with_label(&self, path: &str, label: &str) -> StoreResult<Vec<Resource>> {
        let (path, label) = (path.to_owned(), label.to_owned());
        self.readers
            .call(move |raw| raw.descendants_with_label(&path, &label))
    }
    fn of_type(&self, ty: u32) -> StoreResult<Vec<Resource>> {
        self.readers.call(move |raw| raw.of_type(ty))
    }
    fn nodes_with_id(&self, ni: &str) -> StoreResult<Vec<Resource>> {
        let ni = ni.to_owned();
        self.readers.call(move |raw| raw.nodes_with_id(&ni))
    }
    fn instance_with_dgt(&self, pi: &str, dgt: &str) -> StoreResult<Option<Resource>> {
        let (pi, dgt) = (pi.to_owned(), dgt.to_owned());
        self.readers
            .call(move |raw| raw.instance_with_dgt(&pi, &dgt))
    }
    fn expired(&self, now: &str, limit: usize) -> StoreResult<Vec<Resource>> {
        let now = now.to_owned();
        self.readers.call(move |raw| raw.expired(&now, limit))
    }
}
