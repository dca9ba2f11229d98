//! Responses requests in both directions: a client's `POST /v1/responses` body read into the
//! canonical chat ([`parse_request`]), and the canonical chat written for OpenAI's and Azure's
//! Responses endpoints ([`build_request`]).
//!
//! Hosted tools (`web_search`, `file_search`, ...) and namespace descriptions, which the
//! canonical chat cannot hold, travel in `ResponsesOptions.hosted_tools_json` as the client
//! sent them; namespaces appear there as shells (`{"type": "namespace", "name",
//! "description"}`) whose functions are the canonical tools with that `namespace`.

mod build;
mod egress_body;
mod ingress;
mod input;
mod input_body;
mod tools;

pub use build::{Endpoint, build_request};
pub use ingress::parse_request;
pub use tools::{hosted_tools, needs_hosted_tools, without_hosted_tools};

#[cfg(test)]
mod build_tests;
#[cfg(test)]
mod egress_equivalence_tests;
#[cfg(test)]
mod ingress_equivalence_tests;
#[cfg(test)]
mod ingress_tests;
#[cfg(test)]
mod legacy_egress;
#[cfg(test)]
mod legacy_input;
