//! A client of CRIU's RPC protocol over `criu swrk <fd>`.
//!
//! Each request starts its own CRIU: docker-cr makes a SOCK_SEQPACKET socket
//! pair, hands one end to `criu swrk` as an inherited descriptor and keeps the
//! other. Every protobuf message travels as exactly one packet, so packet
//! boundaries are message boundaries. CRIU learns the caller's PID from the
//! socket's peer credentials and opens the images folder through
//! /proc/<caller>/fd/<images_dir_fd>, which is why the folder descriptors
//! stay open in this process for the whole request.

use std::io::Read;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use nix::fcntl::{fcntl, open, FcntlArg, FdFlag, OFlag};
use nix::sys::socket::{recv, send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use nix::sys::stat::Mode;
use prost::Message;

use super::compat::{self, CriuVersion, KernelVersion};
use super::proto::{Opts, Req, ReqType, Resp};
use super::{log_error_excerpt, CriuError};

/// How many error lines of CRIU's log a failure shows.
const LOG_EXCERPT_LINES: usize = 6;

/// The result of a successful dump.
#[derive(Debug, Clone)]
pub struct DumpOutcome {
    /// The notifications CRIU sent along the way, in order ("pre-dump",
    /// "network-lock", "post-dump", ...).
    pub notifications: Vec<String>,
}

/// Runs CRIU requests through `criu swrk`.
#[derive(Debug, Clone)]
pub struct CriuClient {
    binary: PathBuf,
}

impl CriuClient {
    pub fn new(binary: impl Into<PathBuf>) -> Self {
        Self { binary: binary.into() }
    }

    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// Returns the binary's full path as it would be run: a bare name is
    /// looked up on PATH, as spawning it does. Falls back to the name.
    pub fn resolved_binary(&self) -> PathBuf {
        if self.binary.components().count() > 1 {
            return self.binary.clone();
        }
        std::env::var_os("PATH")
            .and_then(|path| {
                std::env::split_paths(&path).map(|dir| dir.join(&self.binary)).find(|candidate| candidate.is_file())
            })
            .unwrap_or_else(|| self.binary.clone())
    }

    /// Asks CRIU for its version.
    pub fn version(&self) -> Result<CriuVersion, CriuError> {
        let mut session = Session::start(&self.binary)?;
        let resp = session.call(&Req { r#type: ReqType::Version as i32, ..Default::default() }, "VERSION")?;
        session.finish();
        let version = resp.version.ok_or(CriuError::UnexpectedResponse {
            request: "VERSION",
            answer: "VERSION response without a version".to_string(),
        })?;
        Ok(CriuVersion::new(
            version.major_number.max(0) as u32,
            version.minor_number.max(0) as u32,
            version.sublevel.unwrap_or(0).max(0) as u32,
        ))
    }

    /// Fails when this CRIU is too old for the running kernel, naming the
    /// kernel change it cannot handle.
    pub fn ensure_supports(&self, kernel: KernelVersion) -> Result<CriuVersion, CriuError> {
        let found = self.version()?;
        match compat::unmet_kernel_limit(found, kernel) {
            None => Ok(found),
            Some(limit) => Err(CriuError::TooOld {
                found,
                needed: compat::minimum_criu_for(kernel),
                kernel,
                reason: limit.symptom.to_string(),
            }),
        }
    }

    /// Runs CRIU's own kernel check (`criu check` through RPC).
    pub fn check(&self) -> Result<(), CriuError> {
        let mut session = Session::start(&self.binary)?;
        let resp = session.call(&Req { r#type: ReqType::Check as i32, ..Default::default() }, "CHECK")?;
        session.finish();
        if resp.success {
            Ok(())
        } else {
            Err(CriuError::Failed {
                request: "CHECK",
                errno: resp.cr_errno,
                message: resp.cr_errmsg,
                log_path: None,
                log_excerpt: Vec::new(),
            })
        }
    }

    /// Records this host's CPU features as cpuinfo.img in `images_dir`, so a
    /// restore elsewhere can check them.
    pub fn cpuinfo_dump(&self, images_dir: &Path) -> Result<(), CriuError> {
        self.images_request(ReqType::CpuinfoDump, "CPUINFO_DUMP", images_dir)
    }

    /// Checks that this host has the CPU features recorded in `images_dir`.
    pub fn cpuinfo_check(&self, images_dir: &Path) -> Result<(), CriuError> {
        self.images_request(ReqType::CpuinfoCheck, "CPUINFO_CHECK", images_dir)
    }

    fn images_request(&self, kind: ReqType, request: &'static str, images_dir: &Path) -> Result<(), CriuError> {
        let images_fd = open_dir(images_dir)?;
        let opts = Opts { images_dir_fd: images_fd.as_raw_fd(), ..Default::default() };
        let mut session = Session::start(&self.binary)?;
        let resp = session.call(&Req { r#type: kind as i32, opts: Some(opts), ..Default::default() }, request)?;
        session.finish();
        drop(images_fd);
        if resp.success {
            Ok(())
        } else {
            Err(failure(request, &resp, None))
        }
    }

    /// Dumps the process tree that `opts.pid` names into `images_dir`,
    /// writing CRIU's log as `work_dir/<opts.log_file>`.
    ///
    /// `on_notify` receives every NOTIFY message ("pre-dump", "post-dump", ...)
    /// before the reply is sent; returning false makes CRIU abort the dump, and
    /// thaw the tree. "post-dump" arrives while the tree is still frozen,
    /// which makes it the moment to copy files that must match the dump.
    pub fn dump(
        &self,
        mut opts: Opts,
        images_dir: &Path,
        work_dir: &Path,
        mut on_notify: impl FnMut(&str) -> bool,
    ) -> Result<DumpOutcome, CriuError> {
        let images_fd = open_dir(images_dir)?;
        let work_fd = open_dir(work_dir)?;
        opts.images_dir_fd = images_fd.as_raw_fd();
        opts.work_dir_fd = Some(work_fd.as_raw_fd());
        let log_path = opts.log_file.as_ref().map(|name| work_dir.join(name));

        let mut session = Session::start(&self.binary)?;
        session.send(&Req { r#type: ReqType::Dump as i32, opts: Some(opts), ..Default::default() })?;

        let mut notifications = Vec::new();
        loop {
            let Some(resp) = session.receive()? else {
                let status = session.finish();
                return Err(CriuError::Exited { request: "DUMP", status, log_path });
            };
            match ReqType::try_from(resp.r#type) {
                Ok(ReqType::Notify) => {
                    let script = resp.notify.and_then(|notify| notify.script).unwrap_or_default();
                    let go_on = on_notify(&script);
                    notifications.push(script);
                    session.send(&Req {
                        r#type: ReqType::Notify as i32,
                        notify_success: Some(go_on),
                        ..Default::default()
                    })?;
                }
                Ok(ReqType::Dump) => {
                    session.finish();
                    drop((images_fd, work_fd));
                    return if resp.success {
                        Ok(DumpOutcome { notifications })
                    } else {
                        Err(failure("DUMP", &resp, log_path))
                    };
                }
                other => {
                    session.finish();
                    return Err(CriuError::UnexpectedResponse {
                        request: "DUMP",
                        answer: format!("{other:?}"),
                    });
                }
            }
        }
    }
}

/// Builds the error for a response with `success = false`, quoting the log.
fn failure(request: &'static str, resp: &Resp, log_path: Option<PathBuf>) -> CriuError {
    let log_excerpt = log_path
        .as_ref()
        .and_then(|path| std::fs::read_to_string(path).ok())
        .map(|log| log_error_excerpt(&log, LOG_EXCERPT_LINES))
        .unwrap_or_default();
    CriuError::Failed {
        request,
        errno: resp.cr_errno,
        // CRIU reports its first error line, which on many hosts is the
        // harmless rlimit complaint rather than the cause.
        message: resp.cr_errmsg.clone().filter(|message| !message.contains(super::HARMLESS_RLIMIT_LINE)),
        log_path,
        log_excerpt,
    }
}

fn open_dir(path: &Path) -> Result<OwnedFd, CriuError> {
    open(path, OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(|source| CriuError::ImagesDir { path: path.to_path_buf(), source })
}

/// One running `criu swrk` and our end of its socket.
struct Session {
    child: Child,
    socket: OwnedFd,
}

impl Session {
    fn start(binary: &Path) -> Result<Self, CriuError> {
        // Both ends are close-on-exec; only CRIU's end has the flag cleared,
        // in the child, so no other program we start inherits either end.
        let (ours, theirs) =
            socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
                .map_err(|source| CriuError::Socket { action: "creating the socket pair", source })?;
        let their_fd: RawFd = theirs.as_raw_fd();

        let mut command = Command::new(binary);
        command
            .arg("swrk")
            .arg(their_fd.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // SAFETY: the closure only calls fcntl(2), which is async-signal-safe,
        // on a descriptor that stays open until after the spawn.
        unsafe {
            command.pre_exec(move || {
                let fd = BorrowedFd::borrow_raw(their_fd);
                fcntl(fd, FcntlArg::F_SETFD(FdFlag::empty()))?;
                Ok(())
            });
        }
        let child = command
            .spawn()
            .map_err(|source| CriuError::Spawn { binary: binary.to_path_buf(), source })?;
        // Our copy of CRIU's end must go, or a dying CRIU would never look
        // like end-of-file to us.
        drop(theirs);
        Ok(Self { child, socket: ours })
    }

    fn send(&self, req: &Req) -> Result<(), CriuError> {
        let bytes = req.encode_to_vec();
        send(self.socket.as_raw_fd(), &bytes, MsgFlags::MSG_NOSIGNAL)
            .map_err(|source| CriuError::Socket { action: "sending a request", source })?;
        Ok(())
    }

    /// Receives one response, or `None` when CRIU closed its end.
    fn receive(&self) -> Result<Option<Resp>, CriuError> {
        let fd = self.socket.as_raw_fd();
        // MSG_TRUNC with MSG_PEEK returns the packet's full length without
        // consuming it, so the buffer can be sized exactly.
        let length = loop {
            match recv(fd, &mut [0u8; 1], MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC) {
                Err(nix::Error::EINTR) => continue,
                other => break other,
            }
        }
        .map_err(|source| CriuError::Socket { action: "receiving a response", source })?;
        if length == 0 {
            return Ok(None);
        }
        let mut buffer = vec![0u8; length];
        let received = recv(fd, &mut buffer, MsgFlags::empty())
            .map_err(|source| CriuError::Socket { action: "receiving a response", source })?;
        buffer.truncate(received);
        Resp::decode(buffer.as_slice()).map(Some).map_err(|source| CriuError::Decode { source })
    }

    fn call(&mut self, req: &Req, request: &'static str) -> Result<Resp, CriuError> {
        self.send(req)?;
        match self.receive()? {
            Some(resp) => Ok(resp),
            None => {
                let status = self.finish();
                Err(CriuError::Exited { request, status, log_path: None })
            }
        }
    }

    /// Waits for CRIU to exit and describes how it ended, with what it wrote
    /// to stderr.
    fn finish(&mut self) -> String {
        let mut stderr = String::new();
        if let Some(mut pipe) = self.child.stderr.take() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        let status = match self.child.wait() {
            Ok(status) => status.to_string(),
            Err(error) => format!("wait failed: {error}"),
        };
        let stderr: Vec<&str> = stderr
            .lines()
            .filter(|line| !line.contains(super::HARMLESS_RLIMIT_LINE) && !line.trim().is_empty())
            .collect();
        if stderr.is_empty() {
            status
        } else {
            format!("{status}; stderr: {}", stderr.join(" | "))
        }
    }
}
