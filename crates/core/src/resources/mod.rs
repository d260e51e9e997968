//! One module per hosted resource type: its attributes and its behaviour.

pub mod acp;
pub mod ae;
pub mod container;
pub mod content_instance;
pub mod cse_base;
pub mod flex_container;
pub mod group;
pub mod mgmt_obj;
pub mod node;
pub mod polling_channel;
pub mod subscription;
pub mod time_series;
