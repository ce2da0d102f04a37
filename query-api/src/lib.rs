//! supplyline's GraphQL read side over the read models and the log. Built by the query-API
//! issue; empty until then.
