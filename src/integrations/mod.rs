//! Integrations with the tools teams already use: inbound webhook signature checks shared by
//! every integration (`signature`) and the GitHub integration's pure core (`github`).

pub mod github;
pub mod signature;
