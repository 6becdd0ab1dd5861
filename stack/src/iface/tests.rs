//! Byte-vector tests of the interface: frames in, frames out, counters, at explicit times.
