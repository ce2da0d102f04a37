//! The process managers' decisions, pure: given an event (and the state the process keeps), the
//! commands to issue. The projector runtime feeds them the log in order, keeps their state in
//! the same transaction as its checkpoint, and executes what they return.
//!
//! Every command carries an id derived from the causing event, which the runtime passes to the
//! store as the append's idempotency key: replaying a process after a crash issues nothing twice.
//! The decisions are also idempotent by state: an event delivered twice yields no new commands.

mod command;
mod delivery;
mod inspection;
mod order;
mod purchase;
#[cfg(test)]
mod test_support;

pub use command::{Cause, ProcessCommand, Target};
pub use delivery::{DeliveryProcess, DeliveryProcessInput, MAX_DELIVERIES};
pub use inspection::InspectionProcess;
pub use order::{OrderProcess, OrderProcessInput};
pub use purchase::PurchaseProcess;
