//! Hints for CRIU's log errors: the usual cause and the next step.
//!
//! CRIU's messages name the failing step, not the user's mistake; these
//! patterns map the failure kinds docker-cr users meet most to a next step.
//! The patterns come from CRIU 4.x's messages.

/// One known failure kind.
struct KnownFailure {
    /// Any of these substrings in an error line identifies the kind.
    patterns: &'static [&'static str],
    hint: &'static str,
}

const KNOWN_FAILURES: &[KnownFailure] = &[
    KnownFailure {
        patterns: &["No mapping for", "external mount"],
        hint: "a mount point of the checkpoint has no counterpart in the new container: map its source with \
               --mount-map OLD=NEW, or leave it out with --skip-mounts PATH",
    },
    KnownFailure {
        patterns: &["Can't open root", "Can't mount at", "Can't bind-mount", "Can't lookup mount"],
        hint: "a mount source is missing or of the wrong kind on this host: create it, restore with \
               --auto-fix-mounts, or map it with --mount-map OLD=NEW",
    },
    KnownFailure {
        patterns: &["Can't open file", "Unable to open fd"],
        hint: "a file the processes had open is missing on this host: put it back where the mount or image \
               had it, or map its bind mount to where it is now with --mount-map OLD=NEW",
    },
    KnownFailure {
        patterns: &["Address already in use", "EADDRINUSE", "Can't bind"],
        hint: "an address or port the checkpointed processes used is taken on this host; stop what holds it, \
               or restore where it is free",
    },
    KnownFailure {
        patterns: &["Connected TCP socket", "tcp-established", "TCP connection"],
        hint: "the processes hold an established TCP connection: checkpoint with --tcp (the default), and \
               restore where the container gets the same IP address",
    },
    KnownFailure {
        patterns: &["file-locks", "file lock", "Some file locks are hold", "flock"],
        hint: "the processes hold file locks: checkpoint with --file-locks (the default)",
    },
    KnownFailure {
        patterns: &["cpuinfo", "CPU feature", "cpu features", "xsave"],
        hint: "this host's CPU lacks features the checkpointed processes use: restore on a host with the same \
               or a newer CPU",
    },
    KnownFailure {
        patterns: &["Unexpected rt vDSO area bounds"],
        hint: "this CRIU is too old for the kernel: before 4.1 it cannot start on kernels from 6.13 on; install \
               CRIU 4.2 or newer",
    },
    KnownFailure {
        patterns: &["Can't get 1:16 opt"],
        hint: "this CRIU is too old for the kernel: before 4.2 it cannot dump inet sockets on kernels from 6.16 \
               on; install CRIU 4.2 or newer",
    },
];

/// Returns the hint for the first known failure kind found in the log's
/// error lines.
pub fn hint_for(error_lines: &[String]) -> Option<&'static str> {
    error_lines.iter().find_map(|line| {
        KNOWN_FAILURES
            .iter()
            .find(|known| known.patterns.iter().any(|pattern| line.contains(pattern)))
            .map(|known| known.hint)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn unmapped_mount_point_suggests_mount_map() {
        let hint = hint_for(&lines("Error (criu/mount.c:1): mnt: No mapping for 1257:(null) mountpoint")).unwrap();
        assert!(hint.contains("--mount-map"));
    }

    #[test]
    fn busy_address_is_recognised() {
        let hint = hint_for(&lines("Error (criu/sk-inet.c:1): inet: Can't bind inet socket (id 5): Address already in use")).unwrap();
        assert!(hint.contains("taken"));
    }

    #[test]
    fn old_criu_on_new_kernel_is_recognised() {
        let hint = hint_for(&lines("Error (criu/sockets.c:1): sockets: Can't get 1:16 opt: Operation not supported")).unwrap();
        assert!(hint.contains("4.2"));
    }

    #[test]
    fn missing_open_file_is_recognised() {
        let hint = hint_for(&lines("Error (criu/files-reg.c:2353): Can't open file data/log on restore: No such file or directory")).unwrap();
        assert!(hint.contains("--mount-map"));
    }

    #[test]
    fn unknown_error_has_no_hint() {
        assert!(hint_for(&lines("Error (criu/x.c:1): something new")).is_none());
    }
}
