//! DHCPv4 client (to be written).
