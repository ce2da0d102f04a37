//! The process managers: projections whose output is commands. Each runs the pure decisions
//! of `domain::process` on the projector runtime: it reads the log in order, keeps each
//! instance's state in a row committed with its checkpoint, and issues the commands decided
//! through the shared executors, keyed by the causing event, so a process replayed after a
//! crash issues nothing twice. Process managers are never rebuilt.

mod delivery;
mod inspection;
pub mod issue;
pub mod manager;
mod order;
mod purchase;

use executors::Executors;

pub use delivery::{DeliveryFlow, DeliveryProcessRow};
pub use inspection::{InspectionFlow, InspectionProcessRow};
pub use issue::{Causes, Issuer, Outcome};
pub use manager::{Process, ProcessManager, Stuck};
pub use order::{OrderFlow, OrderProcessRow};
pub use purchase::{PurchaseFlow, PurchaseProcessRow};

use crate::Projection;

/// Every process manager, issuing through `executors`.
pub fn all(executors: &Executors) -> Vec<Box<dyn Projection>> {
    vec![
        manager::<OrderFlow>(executors),
        manager::<DeliveryFlow>(executors),
        manager::<InspectionFlow>(executors),
        manager::<PurchaseFlow>(executors),
    ]
}

/// Every process manager's name.
pub fn names() -> [&'static str; 4] {
    [
        OrderFlow::NAME,
        DeliveryFlow::NAME,
        InspectionFlow::NAME,
        PurchaseFlow::NAME,
    ]
}

fn manager<P: Process>(executors: &Executors) -> Box<dyn Projection> {
    Box::new(ProcessManager::<P>::new(Issuer::new(
        executors.clone(),
        P::NAME,
    )))
}
