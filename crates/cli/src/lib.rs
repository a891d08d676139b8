//! The library half of the `strongroom` package: the server's configuration file format, for
//! tools that read or check Strongroom server configs (and for the fuzz targets, which feed it
//! untrusted text). The `strongroom` binary is built on top of it.
#![forbid(unsafe_code)]

pub mod config;
