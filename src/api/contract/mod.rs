//! The typed contract of the public API: the request and response bodies of every route.
//!
//! The Worker's handlers return these types, the CLI deserialises the same types, and the
//! OpenAPI document (`api::openapi`) takes its schemas from them (`schemars::JsonSchema`), so a
//! field changed here is changed for all three, and the compiler finds every use. The
//! dashboard's TypeScript types are generated from that document (`frontend/src/api/`).

pub mod assessments;
pub mod audit;
pub mod deployments;
pub mod locks;
pub mod meta;
pub mod rollouts;
pub mod teams;
