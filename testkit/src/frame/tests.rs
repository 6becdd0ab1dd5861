//! The builders' frames, parsed and checksum-checked by etherparse.
