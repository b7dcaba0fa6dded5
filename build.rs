//! Compiles the project's own protobuf definitions of CRIU's wire formats
//! with protox, a pure-Rust protobuf compiler, so that building docker-cr
//! needs no `protoc` on the machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = [
        "proto/criu/rpc.proto",
        "proto/criu/stats.proto",
        "proto/criu/process.proto",
        "proto/criu/memory.proto",
        "proto/criu/files.proto",
        "proto/criu/mnt.proto",
        "proto/criu/cgroup.proto",
        "proto/criu/file_lock.proto",
        "proto/criu/ns.proto",
    ];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
