//! Support for the plugin's tests: the plugin over its pipes, the plakar
//! CLI in a throwaway home, generated trees, network isolation.

pub mod grpc;
pub mod netns;
pub mod package;
pub mod plakar;
pub mod tree;
