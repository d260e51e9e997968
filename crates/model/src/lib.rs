//! The oneM2M data model shared by every Urbis crate.
//!
//! # Layout
//! - [`rsc`]: response status codes, their HTTP/CoAP mapping (one table), and [`CseError`].
//! - [`types`]: operations and resource type numbers.
//! - [`primitive`]: request and response primitives (TS-0004 §6.4), filter criteria.
//! - [`resource`]: a stored resource: its type, structured path and attribute map.
//! - [`time`]: oneM2M timestamps and absolute/relative time parsing.
//!
//! Nothing here does IO: bindings, store and core all build on these types.

pub mod primitive;
pub mod resource;
pub mod rsc;
pub mod time;
pub mod types;

pub use primitive::{
    Authentication, FilterCriteria, Request, Response, ResponseTypeInfo, Serialization,
};
pub use resource::{Attrs, Resource};
pub use rsc::{CseError, CseResult, Rsc};
pub use types::{Operation, ResourceType};
