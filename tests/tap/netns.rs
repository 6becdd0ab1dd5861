//! Network namespaces and bounded processes for the TAP tests: the test kit's, with the
//! `tapstack` binary under test filled in.
//!
//! Every test gets its own namespace. Everything the tests start runs inside it through
//! `ip netns exec`, every wait has a deadline, and the guards stop what is still running and
//! delete the namespace when they go away, also when a test panics.

#[allow(unused_imports)] // Not every test file that includes this module needs each helper.
pub use tapstack_testkit::process::{have, is_root};
#[allow(unused_imports)]
pub use tapstack_testkit::testing::{
    assert_clean_exit, path_arg, run_bounded, took, Netns, Stack, TempDir, EXIT_WITHIN,
};
#[allow(unused_imports)]
pub use tapstack_testkit::{Exit, Output};

/// The `tapstack` binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_tapstack");

/// Starting the `tapstack` binary under test in a namespace.
pub trait Tapstack {
    /// Starts `tapstack up ARGS` inside the namespace.
    fn start_stack(&self, args: &[&str]) -> Stack;
    /// Starts the stack with `args` and waits until it answers.
    fn start_ready(&self, args: &[&str]) -> Stack;
}

impl Tapstack for Netns {
    fn start_stack(&self, args: &[&str]) -> Stack {
        self.start_tapstack(BIN, args)
    }

    fn start_ready(&self, args: &[&str]) -> Stack {
        self.start_tapstack_ready(BIN, args)
    }
}
