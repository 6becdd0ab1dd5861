//! HTTP/1.1 server (to be written).
