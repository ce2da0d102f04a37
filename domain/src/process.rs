//! Process managers' decisions, pure: given an event (and the process's state), the commands to
//! issue. PLACEHOLDER until written.
