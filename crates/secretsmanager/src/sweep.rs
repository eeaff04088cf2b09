//! Secrets whose recovery window has passed are removed for good: [`due_deletions`]
//! decides (pure), [`sweep`] reads and removes (the server runs it periodically).

use berth_store::{Read, Store, StoreError};

use crate::access::remove;
use crate::records::{Keys, SecretRec, RECORDS_PREFIX};

/// How many records a sweep reads per scan.
const BATCH: usize = 500;

/// The secrets of `records` scheduled for deletion at or before `now`.
pub fn due_deletions(records: &[SecretRec], now: f64) -> Vec<&SecretRec> {
    records
        .iter()
        .filter(|r| r.deleted_date.is_some_and(|d| d <= now))
        .collect()
}

/// The keys of the account and region a secret's ARN names.
fn keys_of(rec: &SecretRec) -> Option<Keys> {
    let mut parts = rec.arn.split(':');
    let region = parts.nth(3)?;
    let account = parts.next()?;
    Some(Keys::new(account, region))
}

/// Every secret record of every account and region.
fn all_records(store: &Store) -> Result<Vec<SecretRec>, StoreError> {
    store.read(|r| {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let batch = r.scan_json::<SecretRec>(RECORDS_PREFIX, after.as_deref(), BATCH)?;
            let done = batch.len() < BATCH;
            after = batch.last().map(|(k, _)| k.clone());
            out.extend(batch.into_iter().map(|(_, rec)| rec));
            if done {
                return Ok(out);
            }
        }
    })
}

/// Removes, in one transaction, every secret whose deletion date has come (each read
/// again inside it, so one restored meanwhile stays). Returns how many went.
pub fn sweep(store: &Store, now: f64) -> Result<usize, StoreError> {
    let records = all_records(store)?;
    let due = due_deletions(&records, now);
    if due.is_empty() {
        return Ok(0);
    }
    let (removed, _) = store.write(|w| {
        let mut removed = 0;
        for rec in due {
            let Some(keys) = keys_of(rec) else { continue };
            let Some(now_rec) = w.get_json::<SecretRec>(&keys.secret(&rec.name))? else {
                continue;
            };
            if now_rec.arn == rec.arn
                && !due_deletions(std::slice::from_ref(&now_rec), now).is_empty()
            {
                remove(w, &keys, &now_rec)?;
                tracing::info!(secret = %now_rec.arn, "secret deleted: its recovery window ended");
                removed += 1;
            }
        }
        Ok::<_, StoreError>(removed)
    })?;
    Ok(removed)
}
