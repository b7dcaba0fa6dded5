//! Task state that CRIU keeps beside the process tree: file locks
//! (filelocks.img), control groups (cgroup.img) and seccomp filters
//! (seccomp.img). This module turns CRIU's codes into the names `inspect`
//! shows and follows the links between entries, checking each index
//! against the image it points into.

use std::path::Path;

use super::{proto, ImageError};

/// CRIU's kinds of file lock, from criu/include/file-lock.h.
const FL_POSIX: u32 = 1;
const FL_FLOCK: u32 = 2;
const FL_OFD: u32 = 4;

/// The kernel's lock types, which CRIU stores for every kind of lock.
const F_RDLCK: u32 = 0;
const F_WRLCK: u32 = 1;
/// flock's LOCK_MAND bit of old kernels, which CRIU keeps in `type`.
const LOCK_MAND: u32 = 32;

/// Names a lock's kind: posix (fcntl, lockf), flock or ofd (open file
/// description locks).
pub fn lock_kind(flag: u32) -> &'static str {
    match flag {
        FL_POSIX => "posix",
        FL_FLOCK => "flock",
        FL_OFD => "ofd",
        _ => "unknown",
    }
}

/// Names a lock's type: read or write, with `mandatory` for flock's
/// LOCK_MAND locks.
pub fn lock_type(value: u32) -> &'static str {
    let mandatory = value & LOCK_MAND != 0;
    match (value & !LOCK_MAND, mandatory) {
        (F_RDLCK, false) => "read",
        (F_WRLCK, false) => "write",
        (_, true) => "mandatory",
        _ => "unknown",
    }
}

/// Names the kernel's SECCOMP_MODE_* values.
pub fn seccomp_mode(mode: u32) -> &'static str {
    match mode {
        0 => "disabled",
        1 => "strict",
        2 => "filter",
        _ => "unknown",
    }
}

/// Counts the filters a thread runs under: the one at `last` and each one
/// its `prev` names in turn. `path` is seccomp.img's, for the error.
pub fn seccomp_filter_count(path: &Path, entry: &proto::SeccompEntry, last: u32) -> Result<usize, ImageError> {
    let filters = &entry.seccomp_filters;
    let mut index = last;
    let mut count = 0;
    loop {
        let not_found = || ImageError::SeccompFilterNotFound { path: path.to_path_buf(), index, count: filters.len() };
        let filter = filters.get(index as usize).ok_or_else(not_found)?;
        count += 1;
        // A chain longer than the image means a `prev` loops back, which
        // only a corrupt image can contain.
        if count > filters.len() {
            return Err(not_found());
        }
        match filter.prev {
            Some(prev) => index = prev,
            None => return Ok(count),
        }
    }
}

/// Lists the folders of a hierarchy that CRIU dumped, as paths from the
/// hierarchy's root, parents before children.
pub fn cgroup_dirs(controller: &proto::CgControllerEntry) -> Vec<String> {
    fn walk(dir: &proto::CgroupDirEntry, parent: &str, out: &mut Vec<String>) {
        let path = format!("{parent}/{}", dir.dir_name.trim_start_matches('/'));
        out.push(path.clone());
        for child in &dir.children {
            walk(child, &path, out);
        }
    }
    let mut out = Vec::new();
    for dir in &controller.dirs {
        walk(dir, "", &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(prev: Option<u32>) -> proto::SeccompFilter {
        proto::SeccompFilter { filter: vec![0; 8], prev, flags: None }
    }

    #[test]
    fn seccomp_chain_follows_prev() {
        let entry = proto::SeccompEntry { seccomp_filters: vec![filter(None), filter(Some(0)), filter(None)] };
        let path = Path::new("seccomp.img");
        assert_eq!(seccomp_filter_count(path, &entry, 1).unwrap(), 2);
        assert_eq!(seccomp_filter_count(path, &entry, 2).unwrap(), 1);
    }

    #[test]
    fn seccomp_index_out_of_range_is_error() {
        let entry = proto::SeccompEntry { seccomp_filters: vec![filter(None)] };
        let error = seccomp_filter_count(Path::new("seccomp.img"), &entry, 3).unwrap_err();
        assert!(matches!(error, ImageError::SeccompFilterNotFound { index: 3, count: 1, .. }), "{error:?}");
    }

    #[test]
    fn seccomp_loop_is_error() {
        let entry = proto::SeccompEntry { seccomp_filters: vec![filter(Some(1)), filter(Some(0))] };
        assert!(seccomp_filter_count(Path::new("seccomp.img"), &entry, 0).is_err());
    }

    #[test]
    fn lock_names_match_kernel_codes() {
        assert_eq!(lock_kind(2), "flock");
        assert_eq!(lock_kind(1), "posix");
        assert_eq!(lock_type(1), "write");
        assert_eq!(lock_type(0), "read");
        assert_eq!(lock_type(32 | 64), "mandatory");
    }

    #[test]
    fn cgroup_dirs_join_nested_names() {
        let child = proto::CgroupDirEntry { dir_name: "web".into(), children: vec![] };
        let top = proto::CgroupDirEntry { dir_name: "docker".into(), children: vec![child] };
        let controller = proto::CgControllerEntry { cnames: vec!["cpu".into()], dirs: vec![top], is_threaded: None };
        assert_eq!(cgroup_dirs(&controller), vec!["/docker", "/docker/web"]);
    }
}
