//! Kafka error codes, and the one mapping of storage, partition and runtime errors to them.
//! Both live with the coordinators (`myelin-coordinator`), the lowest crate that speaks
//! Kafka; the endpoint uses them from here.

pub use myelin_coordinator::codes::*;
