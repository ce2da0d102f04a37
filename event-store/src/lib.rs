//! supplyline's log: append with an expected version, read a stream, read the global log in an
//! order that never skips a committed event, snapshots and the hash chain, over PostgreSQL and
//! the embedded SQLite default. Built by the event-store issue; empty until then.
