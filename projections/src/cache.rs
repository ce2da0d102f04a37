//! A projection's rows of one table kept between batches: read once, changed in memory by a
//! batch's events, written back once per batch. Only the projection's live instance writes its
//! tables, so what it keeps stays true until it loses the lease or a batch fails (then
//! [`RowCache::clear`]).

use std::collections::{HashMap, HashSet};

use crate::changes::{Changes, load_rows};
use crate::db::ReadDb;
use crate::table::{KeyedRow, Tables};

/// The kept rows of one table, by key; `None` for a key known to have no row.
#[derive(Debug)]
pub struct RowCache<R> {
    rows: HashMap<String, Option<R>>,
    dirty: HashSet<String>,
    wanted: Vec<String>,
}

impl<R> Default for RowCache<R> {
    fn default() -> Self {
        Self {
            rows: HashMap::new(),
            dirty: HashSet::new(),
            wanted: Vec::new(),
        }
    }
}

impl<R> RowCache<R>
where
    R: KeyedRow
        + Unpin
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>,
{
    /// Notes that the batch creates the row keyed `key` (its stream's first event), so it
    /// need not be looked for.
    pub fn expect_new(&mut self, key: &str) {
        if !self.rows.contains_key(key) {
            self.rows.insert(key.to_owned(), None);
        }
    }

    /// Notes that the batch will need the row keyed `key`.
    pub fn want(&mut self, key: &str) {
        if !self.rows.contains_key(key) {
            self.wanted.push(key.to_owned());
        }
    }

    /// Loads every wanted row not kept yet, in one query per chunk.
    pub async fn load_wanted(&mut self, db: &ReadDb, tables: Tables) -> sqlx::Result<()> {
        if self.wanted.is_empty() {
            return Ok(());
        }
        let mut keys = std::mem::take(&mut self.wanted);
        keys.sort_unstable();
        keys.dedup();
        for key in &keys {
            self.rows.insert(key.clone(), None);
        }
        for row in load_rows::<R>(db, tables, &keys).await? {
            self.rows.insert(row.key().to_owned(), Some(row));
        }
        Ok(())
    }

    /// The row keyed `key`, if it exists (it must have been wanted and loaded).
    pub fn get(&self, key: &str) -> Option<&R> {
        self.rows.get(key).and_then(Option::as_ref)
    }

    /// The row keyed `key` to change, if it exists; it is written back with the batch.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut R> {
        let row = self.rows.get_mut(key).and_then(Option::as_mut)?;
        if !self.dirty.contains(key) {
            self.dirty.insert(key.to_owned());
        }
        Some(row)
    }

    /// Inserts or replaces a row; it is written back with the batch.
    pub fn put(&mut self, row: R) {
        let key = row.key().to_owned();
        self.dirty.insert(key.clone());
        self.rows.insert(key, Some(row));
    }

    /// Moves the batch's changed rows into `changes`; they stay kept.
    pub fn drain_into(&mut self, changes: &mut Changes) {
        for key in self.dirty.drain() {
            if let Some(Some(row)) = self.rows.get(&key) {
                changes.upsert(row);
            }
        }
    }

    /// How many keys are kept.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Forgets everything kept (after a failed batch, or when the tables changed under it).
    pub fn clear(&mut self) {
        self.rows.clear();
        self.dirty.clear();
        self.wanted.clear();
    }
}
