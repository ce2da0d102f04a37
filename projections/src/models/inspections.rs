//! The `inspections` read model: inspections, their violations, and each farm's compliance.

use async_trait::async_trait;
use event_schemas::{InspectionEvent, InspectionStatus};

use crate::cache::RowCache;
use crate::changes::Changes;
use crate::convert::{int, json, name_of};
use crate::db::{ReadDb, on_db};
use crate::event::{Body, Event};
use crate::projection::{ApplyError, Projection};
use crate::query::{Page, Paged};
use crate::table::{KeyedRow, Row, Table, Tables, table_row};
use crate::time::to_text;

table_row! {
    /// One inspection of a farm.
    pub struct InspectionRow in "inspections" key(id) {
        /// The inspection id.
        pub id: String,
        /// The farm (its farmer) inspected.
        pub farmer_id: String,
        /// The inspector assigned.
        pub inspector_id: String,
        /// Its status (`SCHEDULED`, ...).
        pub status: String,
        /// When it is planned for.
        pub scheduled_for: String,
        /// When it started.
        pub started_at: Option<String>,
        /// When it was completed.
        pub completed_at: Option<String>,
        /// The score given.
        pub score: Option<i64>,
        /// The inspector's notes.
        pub notes: Option<String>,
        /// Violations recorded.
        pub violations: i64,
        /// When it last changed.
        pub updated_at: String,
        /// Its stream version.
        pub version: i64,
    }
    index by_farmer(farmer_id, id);
    index by_inspector(inspector_id, id);
    index by_status(status, id);
}

impl KeyedRow for InspectionRow {
    fn key(&self) -> &str {
        &self.id
    }
}

table_row! {
    /// One violation recorded by an inspection.
    pub struct ViolationRow in "inspection_violations" key(id) {
        /// The violation id.
        pub id: String,
        /// The inspection that recorded it.
        pub inspection_id: String,
        /// The farm it concerns.
        pub farmer_id: String,
        /// The rule violated.
        pub code: String,
        /// `minor`, `major` or `critical`.
        pub severity: String,
        /// What was found.
        pub description: String,
        /// The stock items concerned, JSON array.
        pub stock_item_ids: String,
        /// When it was recorded.
        pub recorded_at: String,
        /// When it was resolved.
        pub resolved_at: Option<String>,
        /// How it was resolved.
        pub resolution: Option<String>,
    }
    index by_farmer(farmer_id, resolved_at);
    index by_inspection(inspection_id);
}

impl KeyedRow for ViolationRow {
    fn key(&self) -> &str {
        &self.id
    }
}

table_row! {
    /// A farm's compliance: the outcome of its latest completed inspection.
    pub struct ComplianceRow in "farm_compliance" key(farmer_id) {
        /// The farm's farmer.
        pub farmer_id: String,
        /// `COMPLIANT` or `NON_COMPLIANT`.
        pub status: String,
        /// The latest completed inspection.
        pub last_inspection_id: String,
        /// When it was completed.
        pub last_inspection_at: String,
        /// Its score.
        pub last_score: i64,
    }
}

impl KeyedRow for ComplianceRow {
    fn key(&self) -> &str {
        &self.farmer_id
    }
}

static TABLES: &[&Table] = &[
    &InspectionRow::TABLE,
    &ViolationRow::TABLE,
    &ComplianceRow::TABLE,
];

/// Builds `inspections`, `inspection_violations` and `farm_compliance`.
#[derive(Debug, Default)]
pub struct InspectionsProjection {
    inspections: RowCache<InspectionRow>,
    violations: RowCache<ViolationRow>,
    farms: RowCache<ComplianceRow>,
}

#[async_trait]
impl Projection for InspectionsProjection {
    fn name(&self) -> &'static str {
        "inspections"
    }

    fn version(&self) -> i64 {
        1
    }

    fn tables(&self) -> &'static [&'static Table] {
        TABLES
    }

    async fn load(&mut self, events: &[Event], db: &ReadDb, tables: Tables) -> sqlx::Result<()> {
        for event in events {
            let Body::Inspection(inspection) = &event.body else {
                continue;
            };
            match inspection {
                InspectionEvent::InspectionScheduled(_) => {
                    self.inspections.expect_new(&event.aggregate_id);
                }
                InspectionEvent::ViolationRecorded(e) => {
                    self.violations.expect_new(&e.violation_id.to_string());
                    self.inspections.want(&event.aggregate_id);
                }
                InspectionEvent::ViolationResolved(e) => {
                    self.violations.want(&e.violation_id.to_string());
                    self.inspections.want(&event.aggregate_id);
                }
                InspectionEvent::InspectionPassed(e) => {
                    self.farms.want(e.farmer_id.as_str());
                    self.inspections.want(&event.aggregate_id);
                }
                InspectionEvent::InspectionFailed(e) => {
                    self.farms.want(e.farmer_id.as_str());
                    self.inspections.want(&event.aggregate_id);
                }
                _ => self.inspections.want(&event.aggregate_id),
            }
        }
        self.inspections.load_wanted(db, tables).await?;
        self.violations.load_wanted(db, tables).await?;
        self.farms.load_wanted(db, tables).await
    }

    fn apply(&mut self, event: &Event) -> Result<(), ApplyError> {
        let Body::Inspection(inspection) = &event.body else {
            return Ok(());
        };
        let id = &event.aggregate_id;
        if let InspectionEvent::InspectionScheduled(e) = inspection {
            self.inspections.put(InspectionRow {
                id: id.clone(),
                farmer_id: e.farmer_id.to_string(),
                inspector_id: e.inspector_id.to_string(),
                status: name_of(&InspectionStatus::Scheduled),
                scheduled_for: to_text(e.scheduled_for),
                started_at: None,
                completed_at: None,
                score: None,
                notes: None,
                violations: 0,
                updated_at: to_text(e.scheduled_at),
                version: event.version(),
            });
            return Ok(());
        }
        let Some(row) = self.inspections.get_mut(id) else {
            return Err(ApplyError(format!("no inspection {id} to apply it to")));
        };
        row.version = event.version();
        let (at, completed) = match inspection {
            InspectionEvent::InspectionScheduled(_) => return Ok(()),
            InspectionEvent::InspectionStarted(e) => {
                row.status = name_of(&InspectionStatus::InProgress);
                row.started_at = Some(to_text(e.started_at));
                (e.started_at, None)
            }
            InspectionEvent::ViolationRecorded(e) => {
                row.violations += 1;
                let violation = ViolationRow {
                    id: e.violation_id.to_string(),
                    inspection_id: id.clone(),
                    farmer_id: e.farmer_id.to_string(),
                    code: e.code.as_str().to_owned(),
                    severity: name_of(&e.severity),
                    description: e.description.as_str().to_owned(),
                    stock_item_ids: json(&e.stock_item_ids),
                    recorded_at: to_text(e.recorded_at),
                    resolved_at: None,
                    resolution: None,
                };
                row.updated_at = to_text(e.recorded_at);
                self.violations.put(violation);
                return Ok(());
            }
            InspectionEvent::ViolationResolved(e) => {
                row.updated_at = to_text(e.resolved_at);
                let key = e.violation_id.to_string();
                let Some(violation) = self.violations.get_mut(&key) else {
                    return Err(ApplyError(format!("no violation {key} to resolve")));
                };
                violation.resolved_at = Some(to_text(e.resolved_at));
                violation.resolution = Some(e.resolution.as_str().to_owned());
                return Ok(());
            }
            InspectionEvent::InspectionPassed(e) => {
                row.status = name_of(&InspectionStatus::Passed);
                row.score = Some(i64::from(e.score.get()));
                row.notes = e.notes.as_ref().map(|n| n.as_str().to_owned());
                row.completed_at = Some(to_text(e.completed_at));
                let farm = (e.farmer_id.to_string(), "COMPLIANT", e.score.get());
                (e.completed_at, Some(farm))
            }
            InspectionEvent::InspectionFailed(e) => {
                row.status = name_of(&InspectionStatus::Failed);
                row.score = Some(i64::from(e.score.get()));
                row.notes = e.notes.as_ref().map(|n| n.as_str().to_owned());
                row.completed_at = Some(to_text(e.completed_at));
                let farm = (e.farmer_id.to_string(), "NON_COMPLIANT", e.score.get());
                (e.completed_at, Some(farm))
            }
        };
        row.updated_at = to_text(at);
        if let Some((farmer_id, status, score)) = completed {
            let at = to_text(at);
            // The latest completed inspection decides, whatever order they were completed in.
            let newer = self
                .farms
                .get(&farmer_id)
                .is_none_or(|farm| farm.last_inspection_at <= at);
            if newer {
                self.farms.put(ComplianceRow {
                    farmer_id,
                    status: status.to_owned(),
                    last_inspection_id: id.clone(),
                    last_inspection_at: at,
                    last_score: int(u64::from(score)),
                });
            }
        }
        Ok(())
    }

    fn take_changes(&mut self) -> Changes {
        let mut changes = Changes::default();
        self.inspections.drain_into(&mut changes);
        self.violations.drain_into(&mut changes);
        self.farms.drain_into(&mut changes);
        changes
    }

    fn kept(&self) -> usize {
        self.inspections.len() + self.violations.len() + self.farms.len()
    }

    fn forget(&mut self) {
        self.inspections.clear();
        self.violations.clear();
        self.farms.clear();
    }
}

/// Which inspections to list.
#[derive(Debug, Clone, Default)]
pub struct InspectionFilter {
    /// Only inspections of this farm.
    pub farmer_id: Option<String>,
    /// Only this inspector's inspections.
    pub inspector_id: Option<String>,
    /// Only inspections in this status.
    pub status: Option<String>,
}

const INSPECTION_WHERE: &str = "($1 IS NULL OR farmer_id = $1) \
     AND ($2 IS NULL OR inspector_id = $2) AND ($3 IS NULL OR status = $3)";

/// The inspection `id`, if any.
pub async fn inspection(db: &ReadDb, id: &str) -> sqlx::Result<Option<InspectionRow>> {
    let sql = format!(
        "SELECT {} FROM inspections WHERE id = $1",
        InspectionRow::TABLE.column_list()
    );
    on_db!(db, pool => sqlx::query_as::<_, InspectionRow>(&sql).bind(id).fetch_optional(pool).await)
}

/// A page of the inspections matching `filter`, by id, and how many match in all.
pub async fn inspections(
    db: &ReadDb,
    filter: &InspectionFilter,
    page: &Page,
) -> sqlx::Result<Paged<InspectionRow>> {
    let (_, after_id) = page.after_pair();
    let sql = format!(
        "SELECT {} FROM inspections WHERE {INSPECTION_WHERE} AND ($4 IS NULL OR id > $4) \
         ORDER BY id LIMIT $5",
        InspectionRow::TABLE.column_list()
    );
    let count_sql = format!("SELECT count(*) FROM inspections WHERE {INSPECTION_WHERE}");
    on_db!(db, pool => {
        let rows = sqlx::query_as::<_, InspectionRow>(&sql)
            .bind(filter.farmer_id.as_deref())
            .bind(filter.inspector_id.as_deref())
            .bind(filter.status.as_deref())
            .bind(after_id.as_deref())
            .bind(page.limit_plus_one())
            .fetch_all(pool)
            .await?;
        let total: i64 = sqlx::query_scalar(&count_sql)
            .bind(filter.farmer_id.as_deref())
            .bind(filter.inspector_id.as_deref())
            .bind(filter.status.as_deref())
            .fetch_one(pool)
            .await?;
        Ok(Paged::new(rows, page, total, |r| (r.id.clone(), r.id.clone())))
    })
}

/// A farm's compliance.
#[derive(Debug, Clone, PartialEq)]
pub struct FarmCompliance {
    /// The farm's farmer.
    pub farmer_id: String,
    /// `UNINSPECTED`, `COMPLIANT` or `NON_COMPLIANT`.
    pub status: String,
    /// The latest completed inspection, if any.
    pub last: Option<ComplianceRow>,
    /// Its violations not resolved yet, oldest first.
    pub open_violations: Vec<ViolationRow>,
}

/// The violations of `inspection_ids`, each inspection's oldest first (in one query per
/// chunk of ids).
pub async fn violations_of(
    db: &ReadDb,
    inspection_ids: &[String],
) -> sqlx::Result<Vec<ViolationRow>> {
    let mut rows: Vec<ViolationRow> =
        crate::changes::load_rows_where(db, "inspection_id", inspection_ids).await?;
    rows.sort_by(|a, b| {
        (&a.inspection_id, &a.recorded_at, &a.id).cmp(&(&b.inspection_id, &b.recorded_at, &b.id))
    });
    Ok(rows)
}

/// The compliance of each farm of `farmer_ids`, in that order (two queries per chunk of ids,
/// whatever their number).
pub async fn farm_compliances(
    db: &ReadDb,
    farmer_ids: &[String],
) -> sqlx::Result<Vec<FarmCompliance>> {
    let lasts: Vec<ComplianceRow> =
        crate::changes::load_rows_where(db, "farmer_id", farmer_ids).await?;
    let mut violations: Vec<ViolationRow> =
        crate::changes::load_rows_where(db, "farmer_id", farmer_ids).await?;
    violations.retain(|v| v.resolved_at.is_none());
    violations.sort_by(|a, b| (&a.recorded_at, &a.id).cmp(&(&b.recorded_at, &b.id)));
    Ok(farmer_ids
        .iter()
        .map(|farmer_id| {
            let last = lasts.iter().find(|l| l.farmer_id == *farmer_id).cloned();
            FarmCompliance {
                farmer_id: farmer_id.clone(),
                status: last
                    .as_ref()
                    .map_or_else(|| "UNINSPECTED".to_owned(), |l| l.status.clone()),
                last,
                open_violations: violations
                    .iter()
                    .filter(|v| v.farmer_id == *farmer_id)
                    .cloned()
                    .collect(),
            }
        })
        .collect())
}

/// The compliance of `farmer_id`'s farm: `UNINSPECTED` until an inspection is completed.
pub async fn farm_compliance(db: &ReadDb, farmer_id: &str) -> sqlx::Result<FarmCompliance> {
    let farm_sql = format!(
        "SELECT {} FROM farm_compliance WHERE farmer_id = $1",
        ComplianceRow::TABLE.column_list()
    );
    let open_sql = format!(
        "SELECT {} FROM inspection_violations WHERE farmer_id = $1 AND resolved_at IS NULL \
         ORDER BY recorded_at, id",
        ViolationRow::TABLE.column_list()
    );
    let (last, open_violations) = on_db!(db, pool => {
        let last = sqlx::query_as::<_, ComplianceRow>(&farm_sql)
            .bind(farmer_id)
            .fetch_optional(pool)
            .await?;
        let open = sqlx::query_as::<_, ViolationRow>(&open_sql)
            .bind(farmer_id)
            .fetch_all(pool)
            .await?;
        (last, open)
    });
    Ok(FarmCompliance {
        farmer_id: farmer_id.to_owned(),
        status: last
            .as_ref()
            .map_or_else(|| "UNINSPECTED".to_owned(), |l| l.status.clone()),
        last,
        open_violations,
    })
}
