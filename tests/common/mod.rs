//! What the process-level tests share.

use std::ops::{Deref, DerefMut};
use std::process::Child;

/// A spawned `supplyline` process, killed and reaped when dropped: a test that fails midway
/// leaves no server behind holding ports and database connections.
pub struct Process(pub Child);

impl Deref for Process {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for Process {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
