//! The kernel limits of CRIU releases.
//!
//! Two kernel changes broke older CRIU releases in ways that look unrelated
//! to the version when they happen, so docker-cr checks them up front and
//! names the cause:
//! - Linux 6.13 split the vvar mapping; CRIU before 4.1 cannot start at all
//!   ("vdso: Unexpected rt vDSO area bounds").
//! - Linux 6.16 restricted SO_PASSCRED and SO_PASSSEC to unix and netlink
//!   sockets; CRIU before 4.2 fails to dump any process holding an inet
//!   socket ("sockets: Can't get 1:16 opt: Operation not supported").

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A CRIU release as CRIU's VERSION request reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CriuVersion {
    pub major: u32,
    pub minor: u32,
    pub sublevel: u32,
}

impl CriuVersion {
    pub const fn new(major: u32, minor: u32, sublevel: u32) -> Self {
        Self { major, minor, sublevel }
    }
}

impl fmt::Display for CriuVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        if self.sublevel != 0 {
            write!(f, ".{}", self.sublevel)?;
        }
        Ok(())
    }
}

/// The running kernel's release, as `uname -r` prints it, reduced to numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl KernelVersion {
    pub const fn new(major: u32, minor: u32, patch: u32) -> Self {
        Self { major, minor, patch }
    }

    /// Reads the running kernel's release through uname(2).
    pub fn running() -> Option<Self> {
        let uts = nix::sys::utsname::uname().ok()?;
        uts.release().to_str()?.parse().ok()
    }
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl FromStr for KernelVersion {
    type Err = String;

    /// Parses releases such as "6.18.44-fc-v1252" or "6.1.0-28-amd64":
    /// everything after the first character that is neither a digit nor a
    /// dot is the distribution's suffix.
    fn from_str(release: &str) -> Result<Self, Self::Err> {
        let numeric: String = release.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
        let mut parts = numeric.split('.').filter(|part| !part.is_empty()).map(str::parse::<u32>);
        let mut next = || parts.next().transpose().map_err(|_| format!("invalid kernel release {release:?}"));
        let major = next()?.ok_or_else(|| format!("invalid kernel release {release:?}"))?;
        let minor = next()?.unwrap_or(0);
        let patch = next()?.unwrap_or(0);
        Ok(Self { major, minor, patch })
    }
}

/// A kernel change that an older CRIU cannot cope with.
#[derive(Debug, Clone, Copy)]
pub struct KernelLimit {
    /// The first kernel with the change.
    pub kernel: KernelVersion,
    /// The first CRIU release that copes with it.
    pub criu: CriuVersion,
    /// The failure an older CRIU shows, in the user's terms.
    pub symptom: &'static str,
}

/// Every known limit, oldest kernel first.
pub const KERNEL_LIMITS: &[KernelLimit] = &[
    KernelLimit {
        kernel: KernelVersion::new(6, 13, 0),
        criu: CriuVersion::new(4, 1, 0),
        symptom: "before 4.1, CRIU cannot start at all on kernels from 6.13 on \
                  (\"vdso: Unexpected rt vDSO area bounds\")",
    },
    KernelLimit {
        kernel: KernelVersion::new(6, 16, 0),
        criu: CriuVersion::new(4, 2, 0),
        symptom: "before 4.2, CRIU cannot dump a process holding an inet socket on kernels \
                  from 6.16 on (\"Can't get 1:16 opt: Operation not supported\")",
    },
];

/// Returns the first limit of the running kernel that this CRIU falls short of.
pub fn unmet_kernel_limit(criu: CriuVersion, kernel: KernelVersion) -> Option<&'static KernelLimit> {
    KERNEL_LIMITS
        .iter()
        .filter(|limit| kernel >= limit.kernel)
        .find(|limit| criu < limit.criu)
}

/// Returns the oldest CRIU release that meets every limit of this kernel.
pub fn minimum_criu_for(kernel: KernelVersion) -> CriuVersion {
    KERNEL_LIMITS
        .iter()
        .filter(|limit| kernel >= limit.kernel)
        .map(|limit| limit.criu)
        .max()
        .unwrap_or(CriuVersion::new(3, 17, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_release_with_suffix_parses() {
        let kernel: KernelVersion = "6.18.44-fc-v1252".parse().unwrap();
        assert_eq!(kernel, KernelVersion::new(6, 18, 44));
    }

    #[test]
    fn kernel_release_without_patch_parses() {
        let kernel: KernelVersion = "6.1-rc3".parse().unwrap();
        assert_eq!(kernel, KernelVersion::new(6, 1, 0));
    }

    #[test]
    fn kernel_release_garbage_is_rejected() {
        assert!("linux".parse::<KernelVersion>().is_err());
    }

    #[test]
    fn criu_3_17_cannot_start_on_6_13() {
        let limit = unmet_kernel_limit(CriuVersion::new(3, 17, 1), KernelVersion::new(6, 13, 2)).unwrap();
        assert_eq!(limit.criu, CriuVersion::new(4, 1, 0));
        assert!(limit.symptom.contains("cannot start"));
    }

    #[test]
    fn criu_4_1_fails_inet_on_6_16() {
        let limit = unmet_kernel_limit(CriuVersion::new(4, 1, 1), KernelVersion::new(6, 18, 44)).unwrap();
        assert_eq!(limit.criu, CriuVersion::new(4, 2, 0));
        assert!(limit.symptom.contains("inet socket"));
    }

    #[test]
    fn criu_4_2_meets_every_limit() {
        assert!(unmet_kernel_limit(CriuVersion::new(4, 2, 1), KernelVersion::new(6, 18, 44)).is_none());
    }

    #[test]
    fn old_kernel_accepts_old_criu() {
        assert!(unmet_kernel_limit(CriuVersion::new(3, 17, 1), KernelVersion::new(6, 1, 0)).is_none());
        assert_eq!(minimum_criu_for(KernelVersion::new(6, 1, 0)), CriuVersion::new(3, 17, 0));
    }

    #[test]
    fn minimum_criu_follows_newest_limit() {
        assert_eq!(minimum_criu_for(KernelVersion::new(6, 14, 0)), CriuVersion::new(4, 1, 0));
        assert_eq!(minimum_criu_for(KernelVersion::new(6, 18, 0)), CriuVersion::new(4, 2, 0));
    }
}
