//! The Linux facts docker-cr reads about a running process: its mount table
//! and where its standard descriptors point. All of it comes from /proc.

use std::fs;
use std::io;
use std::path::Path;

/// One line of /proc/<pid>/mountinfo, reduced to what docker-cr uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountInfo {
    /// The path inside the mounted filesystem that is mounted here ("/" for
    /// a whole filesystem, "/null" for a bind of a /dev/null node).
    pub root: String,
    /// The mount point, in the process's view of the file system.
    pub mount_point: String,
    pub fs_type: String,
    pub source: String,
}

/// Reads the mount table of process `pid`.
pub fn mountinfo(pid: i32) -> io::Result<Vec<MountInfo>> {
    let text = fs::read_to_string(format!("/proc/{pid}/mountinfo"))?;
    Ok(parse_mountinfo(&text))
}

/// Parses mountinfo lines: "ID PARENT MAJ:MIN ROOT POINT OPTS [TAGS...] - TYPE SOURCE SUPER".
pub fn parse_mountinfo(text: &str) -> Vec<MountInfo> {
    text.lines()
        .filter_map(|line| {
            let (front, back) = line.split_once(" - ")?;
            let front: Vec<&str> = front.split_whitespace().collect();
            let mut back = back.split_whitespace();
            Some(MountInfo {
                root: unescape(front.get(3)?),
                mount_point: unescape(front.get(4)?),
                fs_type: back.next()?.to_string(),
                source: back.next().unwrap_or_default().to_string(),
            })
        })
        .collect()
}

/// Undoes the octal escapes (\040 for a space) that mountinfo uses.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 3 < bytes.len() && bytes[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b)) {
            let value = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(value);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Returns what descriptors 0, 1 and 2 of `pid` point to, as runc records
/// them in descriptors.json ("/dev/null", "pipe:[12805]", ...).
pub fn stdio_targets(pid: i32) -> io::Result<Vec<String>> {
    (0..3)
        .map(|fd| fs::read_link(format!("/proc/{pid}/fd/{fd}")).map(|target| target.to_string_lossy().into_owned()))
        .collect()
}

/// Returns whether this process runs with root's effective user id.
pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Returns the host's name, for the manifest.
pub fn hostname() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|name| name.into_string().ok())
        .unwrap_or_default()
}

/// Returns whether `path` inside the root of `pid` is a directory.
pub fn is_dir_in_root(pid: i32, path: &str) -> bool {
    Path::new(&format!("/proc/{pid}/root{path}")).is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Lines as a Docker 20.10 container on cgroup v1 shows them.
    const MOUNTINFO: &str = "\
1369 1259 0:85 / / rw,relatime master:436 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X
1376 1369 0:91 / /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime master:12 - cgroup cgroup rw,memory
1390 1369 254:0 /var/lib/docker/containers/abc/hosts /etc/hosts rw,relatime - ext4 /dev/vda rw
1401 1370 0:88 /null /proc/keys rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
1402 1369 254:0 /srv/with\\040space /data rw,relatime - ext4 /dev/vda rw
";

    #[test]
    fn mountinfo_fields_are_parsed() {
        let mounts = parse_mountinfo(MOUNTINFO);
        assert_eq!(mounts.len(), 5);
        assert_eq!(mounts[1].mount_point, "/sys/fs/cgroup/memory");
        assert_eq!(mounts[1].fs_type, "cgroup");
        assert_eq!(mounts[3].root, "/null");
    }

    #[test]
    fn mountinfo_octal_escapes_are_undone() {
        let mounts = parse_mountinfo(MOUNTINFO);
        assert_eq!(mounts[4].root, "/srv/with space");
    }
}
