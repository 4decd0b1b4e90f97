//! `clodo export`: the resources a project's configs declare, as one neutral list
//! ([`Resource`]) rendered as Terraform HCL for the Cloudflare provider v5 ([`terraform`]) or as
//! a Pulumi TypeScript program over `@pulumi/cloudflare` ([`pulumi`]). Resources that already
//! exist in the account (from the assessment inventory) carry their import id. Pure.

mod model;
mod render;

pub use model::{resources, Existing, ExportService, Resource, Val};
pub use render::{pulumi, terraform};

#[cfg(test)]
mod tests;
