//! The `inspection`, `inspections` and `farmCompliance` roots. Farm compliance is a shared
//! catalogue every role reads; inspections are their farm's, their inspector's, or for admins,
//! auditors and analysts.

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, InputObject, Object, SimpleObject};
use event_schemas::values::{Actor, Role};
use projections::ReadDb;
use projections::models::inspections::{
    self, FarmCompliance as FarmComplianceModel, InspectionFilter as RowFilter, InspectionRow,
    ViolationRow,
};

use crate::QueryError;
use crate::connection::{Total, connection, page};
use crate::consistency::{Consistency, consistent};
use crate::error::{refused, unavailable};
use crate::loaders::{Violations, preload};
use crate::stored_enum::stored_enum;
use crate::viewer::Viewer;

stored_enum! {
    /// Where an inspection is in its life.
    pub enum InspectionStatus {
        /// Planned.
        Scheduled => "SCHEDULED",
        /// Under way.
        InProgress => "IN_PROGRESS",
        /// Passed.
        Passed => "PASSED",
        /// Failed.
        Failed => "FAILED",
    }
}

stored_enum! {
    /// A farm's standing with its inspectors.
    pub enum ComplianceStatus {
        /// Never inspected.
        Uninspected => "UNINSPECTED",
        /// Its last inspection passed and no critical violation is open.
        Compliant => "COMPLIANT",
        /// Otherwise.
        NonCompliant => "NON_COMPLIANT",
    }
}

/// Which inspections to list.
#[derive(Debug, Default, InputObject)]
pub struct InspectionFilter {
    /// Only inspections of this farm.
    pub farmer_id: Option<ID>,
    /// Only this inspector's inspections.
    pub inspector_id: Option<ID>,
    /// Only inspections in this status.
    pub status: Option<InspectionStatus>,
}

/// A violation an inspection found.
#[derive(Debug, SimpleObject)]
pub struct Violation {
    /// Its id.
    pub id: ID,
    /// The inspection that found it.
    pub inspection_id: ID,
    /// Its code, e.g. `HYG-12`.
    pub code: String,
    /// `minor`, `major` or `critical`.
    pub severity: String,
    /// What was found.
    pub description: String,
    /// The stock items it names.
    pub stock_item_ids: Vec<ID>,
    /// When it was recorded (RFC 3339).
    pub recorded_at: String,
    /// When it was resolved, if it was.
    pub resolved_at: Option<String>,
}

impl Violation {
    fn from_row(row: ViolationRow) -> async_graphql::Result<Self> {
        let items: Vec<String> = serde_json::from_str(&row.stock_item_ids)?;
        Ok(Self {
            id: ID(row.id),
            inspection_id: ID(row.inspection_id),
            code: row.code,
            severity: row.severity,
            description: row.description,
            stock_item_ids: items.into_iter().map(ID).collect(),
            recorded_at: row.recorded_at,
            resolved_at: row.resolved_at,
        })
    }
}

/// An inspection of a farm, with its violations when a page loaded them for all its nodes.
pub struct Inspection(InspectionRow, Option<Vec<ViolationRow>>);

#[Object]
impl Inspection {
    /// The inspection's id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// The farm inspected.
    async fn farmer_id(&self) -> ID {
        ID(self.0.farmer_id.clone())
    }
    /// The inspector.
    async fn inspector_id(&self) -> ID {
        ID(self.0.inspector_id.clone())
    }
    /// Where it is in its life.
    async fn status(&self) -> Option<InspectionStatus> {
        InspectionStatus::from_stored(&self.0.status)
    }
    /// When it is planned (RFC 3339).
    async fn scheduled_for(&self) -> &str {
        &self.0.scheduled_for
    }
    /// When it was completed.
    async fn completed_at(&self) -> Option<&str> {
        self.0.completed_at.as_deref()
    }
    /// Its score, once completed.
    async fn score(&self) -> Option<i64> {
        self.0.score
    }
    /// The violations it found.
    async fn violations(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Violation>> {
        let rows = match &self.1 {
            Some(rows) => rows.clone(),
            None => ctx
                .data::<DataLoader<Violations>>()?
                .load_one(self.0.id.clone())
                .await
                .map_err(unavailable)?
                .unwrap_or_default(),
        };
        rows.into_iter().map(Violation::from_row).collect()
    }
    /// Its stream version.
    async fn version(&self) -> i64 {
        self.0.version
    }
}

/// A farm's compliance.
#[derive(Debug, SimpleObject)]
pub struct FarmCompliance {
    /// The farm.
    pub farmer_id: ID,
    /// Its standing.
    pub status: ComplianceStatus,
    /// When it was last inspected.
    pub last_inspection_at: Option<String>,
    /// Its last score.
    pub last_score: Option<i64>,
    /// Its violations still open.
    pub open_violations: Vec<Violation>,
}

impl FarmCompliance {
    /// The object of the read model's compliance.
    pub(crate) fn from_model(found: FarmComplianceModel) -> async_graphql::Result<Self> {
        let status =
            ComplianceStatus::from_stored(&found.status).unwrap_or(ComplianceStatus::Uninspected);
        Ok(Self {
            farmer_id: ID(found.farmer_id),
            status,
            last_inspection_at: found.last.as_ref().map(|l| l.last_inspection_at.clone()),
            last_score: found.last.as_ref().map(|l| l.last_score),
            open_violations: found
                .open_violations
                .into_iter()
                .map(Violation::from_row)
                .collect::<async_graphql::Result<_>>()?,
        })
    }
}

/// The inspection roots.
#[derive(Default)]
pub struct InspectionsQuery;

/// Whether `actor` may see an inspection of `farmer_id` by `inspector_id`.
fn may_see(actor: &Actor, farmer_id: &str, inspector_id: &str) -> bool {
    Viewer::sees_all(actor)
        || (actor.role == Role::Farmer && actor.sub.as_str() == farmer_id)
        || (actor.role == Role::Inspector && actor.sub.as_str() == inspector_id)
}

#[Object]
impl InspectionsQuery {
    /// One inspection: its farm, its inspector, or an admin, auditor or analyst.
    async fn inspection(
        &self,
        ctx: &Context<'_>,
        consistency: Option<Consistency>,
        id: ID,
    ) -> async_graphql::Result<Option<Inspection>> {
        consistent(ctx, consistency).await?;
        let actor = ctx.data::<Viewer>()?.authenticated()?;
        let db = ctx.data::<ReadDb>()?;
        let Some(row) = inspections::inspection(db, &id)
            .await
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        if !may_see(actor, &row.farmer_id, &row.inspector_id) {
            return Err(refused(QueryError::Forbidden(
                "this inspection is another farm's or inspector's".into(),
            )));
        }
        Ok(Some(Inspection(row, None)))
    }

    /// Inspections, by id: a farm's own, an inspector's own, or all for admins, auditors and
    /// analysts.
    #[graphql(complexity = "crate::connection::page_complexity(first, child_complexity)")]
    async fn inspections(
        &self,
        ctx: &Context<'_>,
        consistency: Option<Consistency>,
        filter: Option<InspectionFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, Inspection, Total, EmptyFields>> {
        consistent(ctx, consistency).await?;
        let actor = ctx.data::<Viewer>()?.with_role(
            &[
                Role::Farmer,
                Role::Inspector,
                Role::Admin,
                Role::Auditor,
                Role::Analyst,
            ],
            "inspections",
        )?;
        let db = ctx.data::<ReadDb>()?;
        let filter = filter.unwrap_or_default();
        let mut rows = RowFilter {
            farmer_id: filter.farmer_id.map(|id| id.0),
            inspector_id: filter.inspector_id.map(|id| id.0),
            status: filter.status.map(|s| s.stored().to_owned()),
        };
        let own = match actor.role {
            Role::Farmer => Some(&mut rows.farmer_id),
            Role::Inspector => Some(&mut rows.inspector_id),
            _ => None,
        };
        if let Some(own) = own {
            if own
                .as_deref()
                .is_some_and(|other| other != actor.sub.as_str())
            {
                return Err(refused(QueryError::Forbidden(
                    "a filter may name only the caller itself".into(),
                )));
            }
            *own = Some(actor.sub.as_str().to_owned());
        }
        let page = page(first, after.as_deref())?;
        let paged = inspections::inspections(db, &rows, &page)
            .await
            .map_err(unavailable)?;
        let ids = paged.rows.iter().map(|(_, row)| row.id.clone());
        let mut violations = preload::<Violations>(ctx, "violations", ids).await?;
        Ok(connection(paged, after.is_some(), |row| {
            let found = violations
                .as_mut()
                .map(|found| found.remove(&row.id).unwrap_or_default());
            Inspection(row, found)
        }))
    }

    /// A farm's compliance: a shared catalogue every role reads.
    async fn farm_compliance(
        &self,
        ctx: &Context<'_>,
        consistency: Option<Consistency>,
        farmer_id: ID,
    ) -> async_graphql::Result<FarmCompliance> {
        consistent(ctx, consistency).await?;
        ctx.data::<Viewer>()?.authenticated()?;
        let db = ctx.data::<ReadDb>()?;
        let found = inspections::farm_compliance(db, &farmer_id)
            .await
            .map_err(unavailable)?;
        FarmCompliance::from_model(found)
    }
}
