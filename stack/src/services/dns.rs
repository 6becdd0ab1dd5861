//! DNS server (to be written).
