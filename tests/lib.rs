//! The one integration-test binary: each module tests one capability.

mod allocations;
mod api;
mod attribution;
mod attribution_props;
mod common;
mod decoder_props;
mod edges;
mod examples;
mod fold;
mod funnel;
mod lifecycle;
mod lifecycle_props;
mod matching_props;
mod predict;
mod predict_props;
mod roi;
mod scoring;
mod scoring_props;
