//! supplyline's HTTP write side: authentication, validation, idempotency and problem+json over
//! the domain's commands. Built by the command-API issue; empty until then.
