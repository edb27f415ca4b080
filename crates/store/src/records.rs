//! Inventory (replaced whole), policy versions, plans and the audit log.

use rusqlite::{params, params_from_iter, Row};

use crate::store::{finite, json, name, sql_limit, Fail};
use crate::{
    AuditRecord, AuditRow, HostRow, InstanceRow, Inventory, NewPlan, PlanRecord, PlanStatus,
    PolicyVersion, Store, StoreError,
};

impl Store {
    /// Replaces the inventory with `inv`, in one transaction, and records `at_ms` as its time.
    ///
    /// # Errors
    /// [`StoreError::BadValue`] for a non-finite capacity; [`StoreError::Sqlite`] for a
    /// duplicate host or instance id.
    pub fn put_inventory(&mut self, inv: &Inventory, at_ms: i64) -> Result<(), StoreError> {
        self.write("replacing the inventory", |tx| {
            tx.execute_batch("DELETE FROM hosts; DELETE FROM instances;")?;
            let mut stmt = tx.prepare_cached(
                "INSERT INTO hosts (id, zone, rack, host_type, cpu, memory_mib, management, \
                 power, driver) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for h in &inv.hosts {
                finite(|| format!("host {:?}: cpu", h.id), h.cpu)?;
                finite(|| format!("host {:?}: memory_mib", h.id), h.memory_mib)?;
                stmt.execute(params![
                    h.id,
                    h.zone,
                    h.rack,
                    h.host_type,
                    h.cpu,
                    h.memory_mib,
                    h.management,
                    h.power,
                    h.driver
                ])?;
            }
            let mut stmt = tx.prepare_cached(
                "INSERT INTO instances (id, host, cpu, memory_mib, state) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?;
            for i in &inv.instances {
                finite(|| format!("instance {:?}: cpu", i.id), i.cpu)?;
                finite(|| format!("instance {:?}: memory_mib", i.id), i.memory_mib)?;
                stmt.execute(params![i.id, i.host, i.cpu, i.memory_mib, i.state])?;
            }
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('inventory_at_ms', ?1) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [at_ms.to_string()],
            )?;
            Ok(())
        })
    }

    /// The inventory last put (empty before the first), hosts and instances in their put order.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn inventory(&self) -> Result<Inventory, StoreError> {
        let doing = "reading the inventory";
        let hosts = self.query(
            doing,
            "SELECT id, zone, rack, host_type, cpu, memory_mib, management, power, driver \
             FROM hosts ORDER BY rowid",
            [],
            |r| {
                Ok(HostRow {
                    id: r.get(0)?,
                    zone: r.get(1)?,
                    rack: r.get(2)?,
                    host_type: r.get(3)?,
                    cpu: r.get(4)?,
                    memory_mib: r.get(5)?,
                    management: r.get(6)?,
                    power: r.get(7)?,
                    driver: r.get(8)?,
                })
            },
        )?;
        let instances = self.query(
            doing,
            "SELECT id, host, cpu, memory_mib, state FROM instances ORDER BY rowid",
            [],
            |r| {
                Ok(InstanceRow {
                    id: r.get(0)?,
                    host: r.get(1)?,
                    cpu: r.get(2)?,
                    memory_mib: r.get(3)?,
                    state: r.get(4)?,
                })
            },
        )?;
        Ok(Inventory { hosts, instances })
    }

    /// Stores `body` as the next policy version (1 for the first).
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn put_policy(
        &mut self,
        body: &serde_json::Value,
        author: &str,
        at_ms: i64,
    ) -> Result<PolicyVersion, StoreError> {
        self.write("storing a policy version", |tx| {
            tx.execute(
                "INSERT INTO policy (at_ms, author, body) VALUES (?1, ?2, ?3)",
                params![at_ms, author, body.to_string()],
            )?;
            let version = tx.last_insert_rowid();
            Ok(PolicyVersion { version, at_ms, author: author.to_string(), body: body.clone() })
        })
    }

    /// Replaces the controller state stored under `key` (one committed transaction).
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn put_state(
        &mut self,
        key: &str,
        body: &serde_json::Value,
        at_ms: i64,
    ) -> Result<(), StoreError> {
        self.write("storing controller state", |tx| {
            tx.execute(
                "INSERT INTO controller_state (key, at_ms, body) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (key) DO UPDATE SET at_ms = excluded.at_ms, body = excluded.body",
                params![key, at_ms, body.to_string()],
            )?;
            Ok(())
        })
    }

    /// The controller state stored under `key` and when it was stored, if any.
    ///
    /// # Errors
    /// [`StoreError::BadValue`] if its stored JSON is unreadable.
    pub fn state(&self, key: &str) -> Result<Option<(i64, serde_json::Value)>, StoreError> {
        let rows = self.query(
            "reading controller state",
            "SELECT rowid, at_ms, body FROM controller_state WHERE key = ?1",
            [key],
            |r| {
                let id: i64 = r.get(0)?;
                Ok((r.get(1)?, json("controller_state", id, &r.get::<_, String>(2)?)?))
            },
        )?;
        Ok(rows.into_iter().next())
    }

    /// The latest policy version, if any was put.
    ///
    /// # Errors
    /// [`StoreError::BadValue`] if its stored JSON is unreadable.
    pub fn policy(&self) -> Result<Option<PolicyVersion>, StoreError> {
        Ok(self.policy_versions(1)?.pop())
    }

    /// Up to `limit` policy versions, newest first.
    ///
    /// # Errors
    /// [`StoreError::BadValue`] if a stored body is unreadable.
    pub fn policy_versions(&self, limit: usize) -> Result<Vec<PolicyVersion>, StoreError> {
        self.query(
            "reading policy versions",
            "SELECT version, at_ms, author, body FROM policy ORDER BY version DESC LIMIT ?1",
            [sql_limit(limit)],
            |r| {
                let version = r.get(0)?;
                let body = json("policy", version, &r.get::<_, String>(3)?)?;
                Ok(PolicyVersion { version, at_ms: r.get(1)?, author: r.get(2)?, body })
            },
        )
    }

    /// Stores a plan and assigns its id (1 for the first).
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] if SQLite fails.
    pub fn insert_plan(&mut self, plan: &NewPlan) -> Result<PlanRecord, StoreError> {
        self.write("inserting a plan", |tx| {
            tx.execute(
                "INSERT INTO plans (at_ms, updated_ms, mode, status, summary, note, body) \
                 VALUES (?1, ?1, ?2, ?3, ?4, NULL, ?5)",
                params![
                    plan.at_ms,
                    plan.mode,
                    plan.status.as_str(),
                    plan.summary,
                    plan.body.to_string()
                ],
            )?;
            Ok(PlanRecord {
                id: tx.last_insert_rowid(),
                at_ms: plan.at_ms,
                updated_ms: plan.at_ms,
                mode: plan.mode.clone(),
                status: plan.status,
                summary: plan.summary.clone(),
                note: None,
                body: plan.body.clone(),
            })
        })
    }

    /// Sets plan `id`'s status and note (`None` clears the note) as of `at_ms`.
    ///
    /// # Errors
    /// [`StoreError::UnknownPlan`] if there is no such plan.
    pub fn set_plan_status(
        &mut self,
        id: i64,
        status: PlanStatus,
        at_ms: i64,
        note: Option<&str>,
    ) -> Result<(), StoreError> {
        self.write(&format!("setting plan {id} to {status}"), |tx| {
            let changed = tx.execute(
                "UPDATE plans SET status = ?2, updated_ms = ?3, note = ?4 WHERE id = ?1",
                params![id, status.as_str(), at_ms, note],
            )?;
            if changed == 0 {
                return Err(Fail::UnknownPlan(id));
            }
            Ok(())
        })
    }

    /// Plan `id`, if stored.
    ///
    /// # Errors
    /// [`StoreError::BadValue`] if its stored status or JSON is unreadable.
    pub fn plan(&self, id: i64) -> Result<Option<PlanRecord>, StoreError> {
        let sql = format!("SELECT {PLAN_COLUMNS} FROM plans WHERE id = ?1");
        Ok(self.query("reading a plan", &sql, [id], plan_row)?.pop())
    }

    /// The plan with the highest id.
    ///
    /// # Errors
    /// [`StoreError::BadValue`] if its stored status or JSON is unreadable.
    pub fn latest_plan(&self) -> Result<Option<PlanRecord>, StoreError> {
        Ok(self.plans(1)?.pop())
    }

    /// Up to `limit` plans, newest first.
    ///
    /// # Errors
    /// [`StoreError::BadValue`] if a stored status or JSON is unreadable.
    pub fn plans(&self, limit: usize) -> Result<Vec<PlanRecord>, StoreError> {
        let sql = format!("SELECT {PLAN_COLUMNS} FROM plans ORDER BY id DESC LIMIT ?1");
        self.query("reading plans", &sql, [sql_limit(limit)], plan_row)
    }

    /// Every plan whose status is one of `statuses`, oldest first.
    ///
    /// # Errors
    /// [`StoreError::BadValue`] if a stored status or JSON is unreadable.
    pub fn plans_with_status(
        &self,
        statuses: &[PlanStatus],
    ) -> Result<Vec<PlanRecord>, StoreError> {
        if statuses.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; statuses.len()].join(", ");
        let sql = format!("SELECT {PLAN_COLUMNS} FROM plans WHERE status IN ({marks}) ORDER BY id");
        let names = params_from_iter(statuses.iter().map(|s| s.as_str()));
        self.query("reading plans by status", &sql, names, plan_row)
    }

    /// Appends `rows` to the audit log, in one transaction.
    ///
    /// # Errors
    /// [`StoreError::Sqlite`] if SQLite fails; then nothing was appended.
    pub fn append_audit(&mut self, rows: &[AuditRow]) -> Result<(), StoreError> {
        self.write("appending to the audit log", |tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT INTO audit (at_ms, source, zone, host, instance, action, reason, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for a in rows {
                stmt.execute(params![
                    a.at_ms,
                    a.source,
                    a.zone,
                    a.host,
                    a.instance,
                    a.action,
                    a.reason,
                    a.body.to_string()
                ])?;
            }
            Ok(())
        })
    }

    /// Up to `limit` audit records with `seq < before_seq` (all when `None`), newest first.
    ///
    /// # Errors
    /// [`StoreError::BadValue`] if a stored body is unreadable.
    pub fn audit(
        &self,
        limit: usize,
        before_seq: Option<i64>,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        self.query(
            "reading the audit log",
            "SELECT seq, at_ms, source, zone, host, instance, action, reason, body FROM audit \
             WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2",
            [before_seq.unwrap_or(i64::MAX), sql_limit(limit)],
            |r| {
                let seq = r.get(0)?;
                Ok(AuditRecord {
                    seq,
                    at_ms: r.get(1)?,
                    source: r.get(2)?,
                    zone: r.get(3)?,
                    host: r.get(4)?,
                    instance: r.get(5)?,
                    action: r.get(6)?,
                    reason: r.get(7)?,
                    body: json("audit", seq, &r.get::<_, String>(8)?)?,
                })
            },
        )
    }
}

/// The columns [`plan_row`] reads, in order.
const PLAN_COLUMNS: &str = "id, at_ms, updated_ms, mode, status, summary, note, body";

/// One row of `plans`.
fn plan_row(r: &Row<'_>) -> Result<PlanRecord, Fail> {
    let id = r.get(0)?;
    Ok(PlanRecord {
        id,
        at_ms: r.get(1)?,
        updated_ms: r.get(2)?,
        mode: r.get(3)?,
        status: name("plans", id, &r.get::<_, String>(4)?)?,
        summary: r.get(5)?,
        note: r.get(6)?,
        body: json("plans", id, &r.get::<_, String>(7)?)?,
    })
}
