//! The host checks behind `docker-cr check`: one finding per requirement,
//! each passed or failed with how to fix it. Every check runs even when an
//! earlier one failed, so the user sees all problems at once.

use serde::Serialize;

use crate::criu::{compat, CriuClient, KernelVersion};
use crate::docker::Engine;
use crate::linux;

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// The requirement, as a short noun phrase.
    pub requirement: &'static str,
    pub ok: bool,
    /// The observed state.
    pub detail: String,
    /// How to fix it, for a failed check.
    pub fix: Option<String>,
}

impl Finding {
    fn pass(requirement: &'static str, detail: impl Into<String>) -> Self {
        Self { requirement, ok: true, detail: detail.into(), fix: None }
    }

    fn fail(requirement: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { requirement, ok: false, detail: detail.into(), fix: Some(fix.into()) }
    }
}

/// Runs every check.
pub async fn check_host(criu: &CriuClient) -> Vec<Finding> {
    let mut findings = Vec::new();

    findings.push(if linux::is_root() {
        Finding::pass("running as root", "effective user id 0")
    } else {
        Finding::fail("running as root", "not root", "run docker-cr with sudo")
    });

    match Engine::connect().await {
        Ok(engine) => match engine.info().await {
            Ok(info) => {
                findings.push(Finding::pass(
                    "Docker engine reachable",
                    format!("engine {} (API {}) at {}", info.version, engine.api_version(), engine.socket()),
                ));
                findings.push(if info.experimental {
                    Finding::pass("engine in experimental mode", "experimental: true")
                } else {
                    Finding::fail(
                        "engine in experimental mode",
                        "experimental: false",
                        "start dockerd with --experimental, or set \"experimental\": true in /etc/docker/daemon.json",
                    )
                });
            }
            Err(error) => findings.extend(engine_failure(&error.to_string())),
        },
        Err(error) => findings.extend(engine_failure(&error.to_string())),
    }

    let kernel = KernelVersion::running();
    let criu_version = tokio::task::block_in_place(|| criu.version());
    match &criu_version {
        Ok(version) => findings.push(Finding::pass("CRIU found", format!("CRIU {version} at {}", criu.resolved_binary().display()))),
        Err(error) => findings.push(Finding::fail(
            "CRIU found",
            format!("{} ({error})", criu.resolved_binary().display()),
            "install CRIU 4.2 or newer (scripts/setup-host.sh does this), or point --criu or DOCKER_CR_CRIU at it",
        )),
    }

    match (&criu_version, kernel) {
        (Ok(version), Some(kernel)) => findings.push(match compat::unmet_kernel_limit(*version, kernel) {
            None => Finding::pass("CRIU new enough for the kernel", format!("CRIU {version} on kernel {kernel}")),
            Some(limit) => Finding::fail(
                "CRIU new enough for the kernel",
                format!("CRIU {version} on kernel {kernel}: {}", limit.symptom),
                format!("install CRIU {} or newer", compat::minimum_criu_for(kernel)),
            ),
        }),
        (_, None) => findings.push(Finding::fail(
            "CRIU new enough for the kernel",
            "the kernel release could not be read",
            "check that /proc is mounted",
        )),
        (Err(_), Some(kernel)) => findings.push(Finding::fail(
            "CRIU new enough for the kernel",
            format!("no CRIU to compare with kernel {kernel}"),
            format!("install CRIU {} or newer", compat::minimum_criu_for(kernel)),
        )),
    }

    findings.push(if criu_version.is_ok() {
        match tokio::task::block_in_place(|| criu.check()) {
            Ok(()) => Finding::pass("CRIU's kernel check", "criu check: looks good"),
            Err(error) => Finding::fail(
                "CRIU's kernel check",
                error.to_string(),
                format!("run `{} check` to see what the kernel lacks", criu.resolved_binary().display()),
            ),
        }
    } else {
        Finding::fail("CRIU's kernel check", "skipped: no working CRIU", "install CRIU first")
    });

    findings
}

/// Builds the findings for an engine that could not be reached.
fn engine_failure(detail: &str) -> [Finding; 2] {
    [
        Finding::fail(
            "Docker engine reachable",
            detail,
            "start dockerd (scripts/setup-host.sh starts it in experimental mode), or set DOCKER_HOST to its unix socket",
        ),
        Finding::fail("engine in experimental mode", "unknown: the engine did not answer", "start the engine first"),
    ]
}
