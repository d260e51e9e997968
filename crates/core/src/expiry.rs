//! The expiry sweeper: removes resources whose `et` has passed (with their
//! subtrees and deletion notifications), at the configured interval.

use std::time::Duration;

use urbis_model::time;

use crate::Cse;

const BATCH: usize = 500;

pub fn spawn_sweeper(cse: Cse) {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(cse.expiration_check_ms())).await;
            // several nodes on one database: only the elected one sweeps
            if !cse.store().leads_background_work() {
                continue;
            }
            if let Err(err) = sweep(&cse).await {
                tracing::warn!(%err, "expiry sweep failed");
            }
        }
    });
}

/// Remove everything that has expired now; returns how many roots were removed.
pub async fn sweep(cse: &Cse) -> urbis_model::CseResult<usize> {
    let mut removed = 0;
    loop {
        let now = time::now_string();
        let expired = cse.store().reader()?.expired(&now, BATCH)?;
        if expired.is_empty() {
            return Ok(removed);
        }
        let count = expired.len();
        for resource in expired {
            match crate::ops::delete::remove(cse, resource.ri(), &cse.config().cse_id).await {
                Ok(()) => removed += 1,
                // already gone with an expired ancestor
                Err(err) if err.rsc == urbis_model::Rsc::NotFound => {}
                Err(err) => return Err(err),
            }
        }
        if count < BATCH {
            return Ok(removed);
        }
    }
}
