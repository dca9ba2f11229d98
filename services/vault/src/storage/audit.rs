//! The audit log: appended in the same transaction as the change it records.

use super::sql::{Tx, params};

use super::{AuditEventRecord, AuditRecord, Store, StoreError};

/// Appends `record` inside `tx`: if this fails, the caller's change fails with it.
pub(super) fn append(tx: &Tx<'_>, record: &AuditRecord) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO audit_events (time, actor, peer, action, target, owner_id, request_id, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            record.time,
            record.actor,
            record.peer,
            record.action,
            record.target,
            record.owner_id,
            record.request_id,
            record.detail
        ],
    )?;
    Ok(())
}

impl Store {
    /// Writes an audit event on its own, for actions that change no row (rotation summaries).
    pub async fn record_audit(&self, record: AuditRecord) -> Result<(), StoreError> {
        self.write(move |tx| append(tx, &record)).await
    }

    /// An owner's events, newest first, strictly older than `before` when given.
    pub async fn list_audit(
        &self,
        owner_id: &str,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEventRecord>, StoreError> {
        let owner_id = owner_id.to_owned();
        self.read(move |tx| {
            tx.query_map(
                "SELECT id, time, actor, peer, action, target, owner_id, request_id, detail
                 FROM audit_events WHERE owner_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
                params![owner_id, before.unwrap_or(i64::MAX), limit],
                |row| {
                    Ok(AuditEventRecord {
                        id: row.get(0)?,
                        record: AuditRecord {
                            time: row.get(1)?,
                            actor: row.get(2)?,
                            peer: row.get(3)?,
                            action: row.get(4)?,
                            target: row.get(5)?,
                            owner_id: row.get(6)?,
                            request_id: row.get(7)?,
                            detail: row.get(8)?,
                        },
                    })
                },
            )
        })
        .await
    }

    /// How many audit events exist for `target`: tests check "exactly one per change".
    pub async fn count_audit_for_target(&self, target: &str) -> Result<u64, StoreError> {
        let target = target.to_owned();
        self.read(move |tx| {
            tx.query_row(
                "SELECT COUNT(*) FROM audit_events WHERE target = ?1",
                params![target],
                |row| row.get::<u64>(0),
            )
        })
        .await
    }
}
