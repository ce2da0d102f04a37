//! The `stockItem` and `stockItems` roots and the `StockItem` object: a shared catalogue every
//! authenticated role reads (restaurants browse it to order).

use async_graphql::connection::{Connection, EmptyFields};
use async_graphql::dataloader::DataLoader;
use async_graphql::{Context, ID, InputObject, Object};
use projections::ReadDb;
use projections::models::inspections::FarmCompliance as FarmComplianceModel;
use projections::models::stock::{self, StockItemFilter as RowFilter, StockItemRow};

use crate::connection::{Total, connection, page};
use crate::consistency::{Consistency, consistent};
use crate::error::unavailable;
use crate::inspections::FarmCompliance;
use crate::loaders::{Compliances, preload};
use crate::stored_enum::stored_enum;
use crate::viewer::Viewer;

stored_enum! {
    /// What kind of produce.
    pub enum Category {
        /// Vegetables.
        Vegetables => "vegetables",
        /// Fruits.
        Fruits => "fruits",
        /// Herbs.
        Herbs => "herbs",
        /// Dairy.
        Dairy => "dairy",
        /// Grains.
        Grains => "grains",
        /// Eggs.
        Eggs => "eggs",
        /// Meat.
        Meat => "meat",
    }
}

/// Which stock items to list.
#[derive(Debug, Default, InputObject)]
pub struct StockItemFilter {
    /// Only this farmer's items.
    pub farmer_id: Option<ID>,
    /// Only this category's items.
    pub category: Option<Category>,
    /// Only items that are (or are not) low on stock.
    pub low_stock: Option<bool>,
    /// Only items that are (or are not) quarantined.
    pub quarantined: Option<bool>,
}

/// A lot of produce a farmer lists.
pub struct StockItem(StockItemRow, Option<FarmComplianceModel>);

// Its fields are in memory: one after the other costs less than all at once.
#[Object(serial)]
impl StockItem {
    /// The item's id.
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }
    /// Its owner.
    async fn farmer_id(&self) -> ID {
        ID(self.0.farmer_id.clone())
    }
    /// What it is called.
    async fn product_name(&self) -> &str {
        &self.0.product_name
    }
    /// What kind of produce.
    async fn category(&self) -> Option<Category> {
        Category::from_stored(&self.0.category)
    }
    /// The unit quantities count in.
    async fn unit(&self) -> &str {
        &self.0.unit
    }
    /// The price of one unit, in cents.
    async fn unit_price_cents(&self) -> i64 {
        self.0.unit_price_cents
    }
    /// Its quality grade.
    async fn quality_grade(&self) -> &str {
        &self.0.quality_grade
    }
    /// Units held.
    async fn on_hand(&self) -> i64 {
        self.0.on_hand
    }
    /// Units held for orders.
    async fn reserved(&self) -> i64 {
        self.0.reserved
    }
    /// Units that can still be ordered.
    async fn available(&self) -> i64 {
        self.0.available
    }
    /// Available at or below this is low stock.
    async fn low_stock_threshold(&self) -> i64 {
        self.0.low_stock_threshold
    }
    /// Whether it is low on stock.
    async fn low_stock(&self) -> bool {
        self.0.low_stock
    }
    /// Whether it is quarantined (takes no new orders).
    async fn quarantined(&self) -> bool {
        self.0.quarantined
    }
    /// Its certifications.
    async fn certifications(&self) -> async_graphql::Result<Vec<String>> {
        Ok(serde_json::from_str(&self.0.certifications)?)
    }
    /// When it was harvested, if known.
    async fn harvest_date(&self) -> Option<&str> {
        self.0.harvest_date.as_deref()
    }
    /// Its farm's compliance (for a page of items, every farm's in one batch).
    async fn farm_compliance(&self, ctx: &Context<'_>) -> async_graphql::Result<FarmCompliance> {
        let found = match &self.1 {
            Some(found) => Some(found.clone()),
            None => ctx
                .data::<DataLoader<Compliances>>()?
                .load_one(self.0.farmer_id.clone())
                .await
                .map_err(unavailable)?,
        };
        match found {
            Some(found) => FarmCompliance::from_model(found),
            None => Err(unavailable("no compliance for the farm")),
        }
    }
    /// Its stream version.
    async fn version(&self) -> i64 {
        self.0.version
    }
}

/// The stock roots.
#[derive(Default)]
pub struct StockQuery;

#[Object]
impl StockQuery {
    /// One stock item.
    async fn stock_item(
        &self,
        ctx: &Context<'_>,
        consistency: Option<Consistency>,
        id: ID,
    ) -> async_graphql::Result<Option<StockItem>> {
        consistent(ctx, consistency).await?;
        ctx.data::<Viewer>()?.authenticated()?;
        let db = ctx.data::<ReadDb>()?;
        let row = stock::stock_item(db, &id).await.map_err(unavailable)?;
        Ok(row.map(|row| StockItem(row, None)))
    }

    /// Stock items, by id.
    #[graphql(complexity = "crate::connection::page_complexity(first, child_complexity)")]
    async fn stock_items(
        &self,
        ctx: &Context<'_>,
        consistency: Option<Consistency>,
        filter: Option<StockItemFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<Connection<String, StockItem, Total, EmptyFields>> {
        consistent(ctx, consistency).await?;
        ctx.data::<Viewer>()?.authenticated()?;
        let db = ctx.data::<ReadDb>()?;
        let filter = filter.unwrap_or_default();
        let rows = RowFilter {
            farmer_id: filter.farmer_id.map(|id| id.0),
            category: filter.category.map(|c| c.stored().to_owned()),
            low_stock: filter.low_stock,
            quarantined: filter.quarantined,
        };
        let page = page(first, after.as_deref())?;
        let paged = stock::stock_items(db, &rows, &page)
            .await
            .map_err(unavailable)?;
        let farms = paged.rows.iter().map(|(_, row)| row.farmer_id.clone());
        let farms = preload::<Compliances>(ctx, "farmCompliance", farms).await?;
        Ok(connection(paged, after.is_some(), |row| {
            let farm = farms.as_ref().and_then(|f| f.get(&row.farmer_id).cloned());
            StockItem(row, farm)
        }))
    }
}
