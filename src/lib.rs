//! docker-cr's library: the layers behind the `docker-cr` binary.
//!
//! Top to bottom: `cli` and `commands` (arguments and output); `plan` (plan
//! files: model, loading, validation, schema, planner and executor) and
//! `exec` (the checkpoint, restore, inspect and list operations); then the
//! adapters and readers that never import the layers above them: `criu`,
//! `docker`, `image` (CRIU's image files), `linux`, `rootfs` (the writable
//! layer and volumes), and `checkpoint`, the on-disk checkpoint folder.

pub mod checkpoint;
pub mod cli;
pub mod commands;
pub mod criu;
pub mod docker;
pub mod exec;
pub mod image;
pub mod linux;
pub mod plan;
pub mod rootfs;
