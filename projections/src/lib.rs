//! supplyline's read side workers: the projector runtime, the read models and the process
//! managers that turn the domain's decisions into commands. Built by the projection issues;
//! empty until then.
