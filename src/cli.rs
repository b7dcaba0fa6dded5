//! The command line: every verb, option and default, with the examples
//! `--help` shows.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

/// The default folder under which checkpoints are written.
pub const DEFAULT_OUTPUT: &str = crate::checkpoint::DEFAULT_OUTPUT;

#[derive(Debug, Parser)]
#[command(
    name = "docker-cr",
    version,
    about = "Checkpoint, restore and migrate running Docker containers with CRIU",
    long_about = "docker-cr checkpoints a running Docker container's processes with CRIU into a \
                  self-describing folder, and restores such a checkpoint as a new container that \
                  the engine manages like any other. It runs as root on the Docker host and needs \
                  no daemon of its own.",
    after_help = "Examples:\n  \
        docker-cr check\n  \
        docker-cr checkpoint web --name before-upgrade\n  \
        docker-cr restore --from /tmp/docker-checkpoints/web/before-upgrade --new-name web-restored"
)]
pub struct Cli {
    /// The CRIU binary that checkpoint, restore, apply, check and version run
    /// (4.2 or newer on kernels from 6.16 on); inspect and list need none.
    #[arg(long, global = true, env = crate::criu::CRIU_ENV, default_value = "criu", value_name = "PATH", display_order = 900)]
    pub criu: PathBuf,

    /// Log more to stderr: -v for details, -vv for debugging.
    #[arg(short = 'v', long = "verbose", global = true, action = ArgAction::Count, display_order = 901)]
    pub verbose: u8,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Checkpoint a running container into a checkpoint folder.
    #[command(after_help = "Examples:\n  \
        docker-cr checkpoint web\n  \
        docker-cr checkpoint web --name before-upgrade --output /var/lib/checkpoints\n  \
        docker-cr checkpoint web --leave-running=false   # stop the container once dumped\n  \
        docker-cr checkpoint web --with-volumes          # carry named volumes along")]
    Checkpoint(CheckpointArgs),

    /// Restore a checkpoint as a new container.
    #[command(after_help = "Examples:\n  \
        docker-cr restore --from /tmp/docker-checkpoints/web/before-upgrade --new-name web-2\n  \
        docker-cr restore --from ./web/before-upgrade --new-name web-2 --format json\n  \
        docker-cr restore --from ./web/cp --new-name web-2 --mount-map /srv/old=/srv/new\n  \
        docker-cr restore --from ./web/cp --new-name web-2 --skip-mounts /cache,/tmp/scratch")]
    Restore(RestoreArgs),

    /// Show what checkpoints contain, offline, without CRIU or root.
    #[command(after_help = "PATH is a docker-cr checkpoint folder, a Podman or CRI-O checkpoint folder, or a \
        folder CRIU dumped into (such as `docker checkpoint create` writes), or a checkpoint archive \
        (.tar, .tar.gz, .tar.zst) as Podman, CRI-O and the kubelet write them.\n\n\
        In JSON, command lines, environments, files, working folders, file locks, memory and mounts are null unless \
        their view is requested.\n\nExamples:\n  \
        docker-cr inspect /tmp/docker-checkpoints/web/before-upgrade\n  \
        docker-cr inspect --ps-tree-cmd --pid 1 ./web/before-upgrade\n  \
        docker-cr inspect --sockets --files ./web/before-upgrade ./db/nightly\n  \
        docker-cr inspect --all --format json ./web/before-upgrade")]
    Inspect(InspectArgs),

    /// List the checkpoints in folders.
    #[command(after_help = "Examples:\n  \
        docker-cr list\n  \
        docker-cr list /var/lib/checkpoints --format json")]
    List(ListArgs),

    /// Check that this host can checkpoint and restore containers.
    #[command(after_help = "Exits with 0 when every check passes and 1 otherwise.\n\nExamples:\n  \
        docker-cr check\n  \
        docker-cr check --format json")]
    Check(FormatArgs),

    /// Apply a plan of checkpoint, restore and migration jobs, or preview it.
    #[command(after_help = "Steps the plan's journal records as done are skipped, so a second apply resumes after \
        a failure and does nothing once every step is done. Exits with 0 when every step succeeded and 1 otherwise.\n\n\
        Examples:\n  \
        docker-cr apply plans/migrate-three.yaml --dry-run\n  \
        docker-cr apply plans/migrate-three.yaml --dry-run --output dot | dot -Tsvg > plan.svg\n  \
        docker-cr apply plans/migrate-three.yaml --parallel 2")]
    Apply(ApplyArgs),

    /// Check a plan file without touching anything.
    #[command(after_help = "Examples:\n  \
        docker-cr plan validate plans/migrate-three.yaml")]
    Plan(PlanArgs),

    /// Print the JSON Schema of plan files.
    #[command(after_help = "Editors validate plans against it through a first line such as\n  \
        # yaml-language-server: $schema=../schemas/plan.schema.json\n\nExamples:\n  \
        docker-cr schema > schemas/plan.schema.json")]
    Schema,

    /// Print the versions of docker-cr, CRIU and the Docker engine.
    #[command(after_help = "Examples:\n  docker-cr version\n  docker-cr version --format json")]
    Version(FormatArgs),
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The plan file.
    pub plan: PathBuf,

    /// Print what would happen, step by step, and change nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// How to print the preview or the summary (`--format` is accepted too,
    /// as on the other commands).
    #[arg(long, short = 'o', visible_alias = "format", value_enum, default_value_t = PlanOutput::Tree)]
    pub output: PlanOutput,

    /// The maximum number of steps that run at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..), value_name = "N")]
    pub parallel: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanOutput {
    /// An indented block per step, for people.
    Tree,
    /// One JSON document, for scripts.
    Json,
    /// A Graphviz digraph of the steps (previews only).
    Dot,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(subcommand)]
    pub command: PlanCommand,
}

#[derive(Debug, Subcommand)]
pub enum PlanCommand {
    /// Check a plan's syntax and meaning; exits with 0 when it is valid and 1 otherwise.
    Validate {
        /// The plan file.
        plan: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct FormatArgs {
    /// How to print the result.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// The container to checkpoint, by name or id.
    pub container: String,

    /// The folder under which <container>/<name>/ is written.
    #[arg(long, short = 'o', default_value = DEFAULT_OUTPUT, value_name = "DIR")]
    pub output: PathBuf,

    /// The checkpoint's name [default: checkpoint-<UTC date>-<time>].
    #[arg(long, short = 'n')]
    pub name: Option<String>,

    /// Leave the container running after the dump; false stops it.
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub leave_running: bool,

    /// Dump established TCP connections.
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub tcp: bool,

    /// Dump file locks.
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub file_locks: bool,

    /// Let CRIU record and restore the container's cgroups (soft mode).
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub manage_cgroups: bool,

    /// Leave the writable layer's changes (rootfs-diff.tar, deleted.files)
    /// out of the checkpoint.
    #[arg(long)]
    pub ignore_rootfs: bool,

    /// Also save the contents of named volumes (volumes/<name>.tar), for
    /// restores on a host that does not have them.
    #[arg(long)]
    pub with_volumes: bool,

    /// CRIU's log level in dump.log, from 0 (nothing) to 4 (everything).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(i32).range(0..=4))]
    pub log_level: i32,

    #[command(flatten)]
    pub format: FormatArgs,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The checkpoint folder, as `docker-cr checkpoint` printed it.
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,

    /// The name of the new container.
    #[arg(long, value_name = "NAME")]
    pub new_name: String,

    /// Check everything before creating anything (image, mount sources,
    /// name, CRIU, CPU features) and report every problem at once.
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub validate_env: bool,

    /// Create missing bind-mount sources, empty and of the kind they were
    /// (file or folder); with false, a missing source is an error.
    #[arg(long, default_value_t = true, action = ArgAction::Set, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    pub auto_fix_mounts: bool,

    /// Leave these bind mounts or volumes out of the new container, by
    /// destination (comma-separated). An empty placeholder is mounted in
    /// place of each.
    #[arg(long, value_delimiter = ',', value_name = "PATH,...")]
    pub skip_mounts: Vec<String>,

    /// Restore a bind mount whose host source is OLD (or lies below it)
    /// from NEW instead; repeatable.
    #[arg(long = "mount-map", value_name = "OLD=NEW")]
    pub mount_maps: Vec<crate::exec::restore::MountMap>,

    #[command(flatten)]
    pub format: FormatArgs,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The checkpoints to inspect.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Show the process tree with pids and task names.
    #[arg(long)]
    pub ps_tree: bool,

    /// Show the process tree with each full command line, read from the
    /// process's memory pages.
    #[arg(long)]
    pub ps_tree_cmd: bool,

    /// Show the process tree with each process's environment, read from
    /// its memory pages.
    #[arg(long)]
    pub ps_tree_env: bool,

    /// Limit the processes shown to the subtree of this pid (as the
    /// checkpoint numbers them).
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,

    /// Show the open files of each process: fd, kind, path, flags, position
    /// and file lock, with its working and root folders.
    #[arg(long)]
    pub files: bool,

    /// Show the sockets of each process: unix, tcp, udp, packet, netlink.
    #[arg(long)]
    pub sockets: bool,

    /// Show the mount points of the container's mount namespace.
    #[arg(long)]
    pub mounts: bool,

    /// Show the control groups of each process: controller and path.
    #[arg(long)]
    pub cgroups: bool,

    /// Show the container's configured environment.
    #[arg(long)]
    pub env: bool,

    /// Show CRIU's dump statistics.
    #[arg(long)]
    pub stats: bool,

    /// Show each process's memory mappings and dumped sizes.
    #[arg(long)]
    pub memory: bool,

    /// Show every view.
    #[arg(long)]
    pub all: bool,

    #[command(flatten)]
    pub format: FormatArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// The folders to search for checkpoints [default: /tmp/docker-checkpoints].
    #[arg(value_name = "DIR")]
    pub dirs: Vec<PathBuf>,

    #[command(flatten)]
    pub format: FormatArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn checkpoint_flags_default_to_true() {
        let cli = Cli::parse_from(["docker-cr", "checkpoint", "web"]);
        let Command::Checkpoint(args) = cli.command else { panic!("expected checkpoint") };
        assert!(args.leave_running);
        assert!(args.tcp);
        assert!(args.file_locks);
        assert!(args.manage_cgroups);
        assert_eq!(args.output, PathBuf::from(DEFAULT_OUTPUT));
    }

    #[test]
    fn leave_running_can_be_turned_off() {
        let cli = Cli::parse_from(["docker-cr", "checkpoint", "web", "--leave-running=false"]);
        let Command::Checkpoint(args) = cli.command else { panic!("expected checkpoint") };
        assert!(!args.leave_running);
    }

    #[test]
    fn inspect_requires_a_path() {
        assert!(Cli::try_parse_from(["docker-cr", "inspect"]).is_err());
    }

    #[test]
    fn inspect_takes_several_paths() {
        let cli = Cli::parse_from(["docker-cr", "inspect", "--ps-tree-cmd", "a", "b"]);
        let Command::Inspect(args) = cli.command else { panic!("expected inspect") };
        assert_eq!(args.paths, vec![PathBuf::from("a"), PathBuf::from("b")]);
        assert!(args.ps_tree_cmd);
    }

    #[test]
    fn log_level_above_four_is_rejected() {
        assert!(Cli::try_parse_from(["docker-cr", "checkpoint", "web", "--log-level", "5"]).is_err());
    }
}
