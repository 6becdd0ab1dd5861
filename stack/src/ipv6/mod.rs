//! IPv6 (to be written).
