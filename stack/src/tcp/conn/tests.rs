//! State machine tests of one connection, driven by segment templates at explicit times.
