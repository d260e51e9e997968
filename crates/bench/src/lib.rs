//! The parts of `urbis-bench`: a oneM2M HTTP client, closed-loop load, a
//! notification receiver, the phases and their statistics.

pub mod client;
pub mod load;
pub mod phases;
pub mod receiver;
pub mod stats;
