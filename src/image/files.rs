//! Open files as CRIU records them: a task's fdinfo entries name a file
//! description by id, and files.img contains each description once with its
//! kind-specific part. This module turns a description into the kind,
//! path and socket addresses a person or script reads.

use std::collections::HashMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use super::proto::{self, FdType};

/// The kernel's AF_INET and AF_INET6, as CRIU stores a socket's family.
const AF_INET: u32 = 2;
const AF_INET6: u32 = 10;
const IPPROTO_TCP: u32 = 6;
const IPPROTO_UDP: u32 = 17;
/// The kernel's TCP_LISTEN state, which unix sockets share.
const TCP_LISTEN: u32 = 10;

/// An open file description, in the terms `inspect` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDescription {
    /// CRIU's kind of file: reg, pipe, fifo, unix, inet, packet, netlink,
    /// eventfd, eventpoll, signalfd, timerfd, inotify, memfd, tty, ...
    pub kind: &'static str,
    /// The path of a file, FIFO, memfd or terminal, or a name such as
    /// `pipe:[48376]`.
    pub path: Option<String>,
    /// The O_* flags of the description, where CRIU records them.
    pub flags: Option<u32>,
    /// The file position, for regular files and memfds.
    pub position: Option<u64>,
    pub socket: Option<Socket>,
}

/// A socket's protocol, addresses and state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Socket {
    /// unix, tcp, udp, raw, packet or netlink.
    pub protocol: &'static str,
    /// inet, inet6, unix, packet or netlink.
    pub family: &'static str,
    /// stream, dgram, seqpacket or raw, from the socket's SOCK_* type.
    pub socket_type: &'static str,
    /// The socket's inode number, which ties the two ends of a unix pair.
    pub inode: u32,
    /// The local address: `ip:port`, a unix path, or `@name` for an
    /// abstract unix name.
    pub local: Option<String>,
    /// The peer's address, or for a unix socket the peer's inode.
    pub remote: Option<String>,
    /// The kernel's state name: LISTEN, ESTABLISHED, CLOSE, ...
    pub state: &'static str,
    pub listening: bool,
    /// Bytes in the receive queue, from tcp-stream or sk-queues images;
    /// `None` when CRIU recorded no queue for the socket.
    pub receive_queue_bytes: Option<u64>,
    /// Bytes in the send queue of an established TCP socket.
    pub send_queue_bytes: Option<u64>,
    /// The settings of a packet socket; `None` for other protocols.
    pub packet: Option<PacketSocket>,
    /// The addresses and groups of a netlink socket; `None` for other
    /// protocols.
    pub netlink: Option<NetlinkSocket>,
}

/// The capture settings of a packet socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PacketSocket {
    /// The ethertype it receives, such as 0x0800 for IPv4 or 0x0003 for all.
    pub ethertype: u16,
    /// The interface it is bound to; 0 for every interface.
    pub ifindex: u32,
    /// The TPACKET version of its rings: 1, 2 or 3.
    pub tpacket_version: u32,
    /// Whether it receives PACKET_AUXDATA control messages.
    pub aux_data: bool,
    /// PACKET_FANOUT's group id and mode, when the socket is in a group.
    pub fanout: Option<u32>,
    /// The frames of its receive and transmit rings, when it has them.
    pub rx_ring_frames: Option<u32>,
    pub tx_ring_frames: Option<u32>,
    pub multicast_memberships: usize,
}

/// A netlink socket's family and addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetlinkSocket {
    /// The kernel's name of the netlink family, such as route or
    /// kobject_uevent, or its number.
    pub family: String,
    pub portid: u32,
    /// The multicast groups it joined, numbered from 1.
    pub groups: Vec<u32>,
    pub dst_portid: u32,
    pub dst_group: u32,
}

/// Indexes files.img by the id that fdinfo entries refer to.
pub fn index_files(files: &[proto::FileEntry]) -> HashMap<u32, &proto::FileEntry> {
    files.iter().map(|file| (file.id, file)).collect()
}

/// The images that name memfd and tty descriptions, indexed by the ids
/// that files.img refers to them by.
#[derive(Debug, Default)]
pub struct NameTables<'a> {
    pub memfd_inodes: HashMap<u64, &'a proto::MemfdInodeEntry>,
    pub ttys: HashMap<u32, &'a proto::TtyInfoEntry>,
}

impl<'a> NameTables<'a> {
    pub fn new(memfd_inodes: &'a [proto::MemfdInodeEntry], ttys: &'a [proto::TtyInfoEntry]) -> Self {
        Self {
            memfd_inodes: memfd_inodes.iter().map(|inode| (inode.inode_id, inode)).collect(),
            ttys: ttys.iter().map(|tty| (tty.id, tty)).collect(),
        }
    }
}

/// Describes the file description `id`, looking FIFOs' names up in
/// `files` and the names of memfds and terminals in `names`.
pub fn describe(id: u32, files: &HashMap<u32, &proto::FileEntry>, names: &NameTables) -> FileDescription {
    let Some(file) = files.get(&id) else {
        return bare("unknown");
    };
    let kind = FdType::try_from(file.r#type).unwrap_or(FdType::Und);
    match kind {
        FdType::Reg => match &file.reg {
            Some(reg) => FileDescription {
                path: Some(reg.name.clone()),
                flags: Some(reg.flags),
                position: Some(reg.pos),
                ..bare("reg")
            },
            None => bare("reg"),
        },
        FdType::Pipe => FileDescription {
            path: file.pipe.as_ref().map(|pipe| format!("pipe:[{}]", pipe.pipe_id)),
            flags: file.pipe.as_ref().map(|pipe| pipe.flags),
            ..bare("pipe")
        },
        FdType::Fifo => {
            let name = file
                .fifo
                .as_ref()
                .and_then(|fifo| fifo.regf_id)
                .and_then(|regf| files.get(&regf))
                .and_then(|entry| entry.reg.as_ref())
                .map(|reg| reg.name.clone());
            FileDescription { path: name, ..bare("fifo") }
        }
        FdType::Inetsk => FileDescription {
            flags: file.isk.as_ref().map(|isk| isk.flags),
            socket: file.isk.as_ref().map(inet_socket),
            ..bare("inet")
        },
        FdType::Unixsk => FileDescription {
            flags: file.usk.as_ref().map(|usk| usk.flags),
            socket: file.usk.as_ref().map(unix_socket),
            ..bare("unix")
        },
        FdType::Packetsk => FileDescription { socket: file.psk.as_ref().map(packet_socket), ..bare("packet") },
        FdType::Netlinksk => FileDescription { socket: file.nlsk.as_ref().map(netlink_socket), ..bare("netlink") },
        FdType::Eventfd => FileDescription { flags: file.efd.as_ref().map(|efd| efd.flags), ..bare("eventfd") },
        FdType::Eventpoll => FileDescription {
            path: file.epfd.as_ref().map(|epfd| format!("{} watched fds", epfd.tfd.len())),
            flags: file.epfd.as_ref().map(|epfd| epfd.flags),
            ..bare("eventpoll")
        },
        FdType::Signalfd => FileDescription {
            path: file.sgfd.as_ref().map(|sgfd| format!("sigmask {:#x}", sgfd.sigmask)),
            flags: file.sgfd.as_ref().map(|sgfd| sgfd.flags),
            ..bare("signalfd")
        },
        FdType::Timerfd => FileDescription {
            path: file.tfd.as_ref().map(|tfd| format!("clock {}", tfd.clockid)),
            flags: file.tfd.as_ref().map(|tfd| tfd.flags),
            ..bare("timerfd")
        },
        FdType::Inotify => FileDescription {
            path: file.ify.as_ref().map(|ify| format!("{} watches", ify.wd.len())),
            flags: file.ify.as_ref().map(|ify| ify.flags),
            ..bare("inotify")
        },
        FdType::Memfd => FileDescription {
            // As /proc/<pid>/fd shows a memfd, without " (deleted)".
            path: file
                .memfd
                .as_ref()
                .and_then(|memfd| names.memfd_inodes.get(&u64::from(memfd.inode_id)))
                .map(|inode| format!("/memfd:{}", inode.name)),
            flags: file.memfd.as_ref().map(|memfd| memfd.flags),
            position: file.memfd.as_ref().map(|memfd| memfd.pos),
            ..bare("memfd")
        },
        FdType::Tty => FileDescription {
            path: file.tty.as_ref().and_then(|tty| names.ttys.get(&tty.tty_info_id)).map(|info| tty_device(info)),
            flags: file.tty.as_ref().map(|tty| tty.flags),
            ..bare("tty")
        },
        FdType::Fanotify => bare("fanotify"),
        FdType::Ns => bare("ns"),
        FdType::Tunf => bare("tun"),
        FdType::Ext => bare("ext"),
        FdType::Und => bare("unknown"),
    }
}

fn bare(kind: &'static str) -> FileDescription {
    FileDescription { kind, path: None, flags: None, position: None, socket: None }
}

fn packet_socket(psk: &proto::PacketSockEntry) -> Socket {
    // CRIU keeps the ethertype as the kernel does, in network byte order.
    let ethertype = u16::from_be(psk.protocol as u16);
    let packet = PacketSocket {
        ethertype,
        ifindex: psk.ifindex,
        tpacket_version: psk.version + 1,
        aux_data: psk.aux_data,
        fanout: psk.fanout,
        rx_ring_frames: psk.rx_ring.map(|ring| ring.frame_nr),
        tx_ring_frames: psk.tx_ring.map(|ring| ring.frame_nr),
        multicast_memberships: psk.mclist.len(),
    };
    let interface = if psk.ifindex == 0 { "any interface".to_string() } else { format!("ifindex {}", psk.ifindex) };
    Socket {
        protocol: "packet",
        family: "packet",
        socket_type: socket_type(psk.r#type),
        inode: 0,
        local: Some(format!("{interface} {}", ethertype_name(ethertype))),
        remote: None,
        state: "",
        listening: false,
        receive_queue_bytes: None,
        send_queue_bytes: None,
        packet: Some(packet),
        netlink: None,
    }
}

fn netlink_socket(nlsk: &proto::NetlinkSkEntry) -> Socket {
    // The groups are a bitmap in 32-bit words: bit n is group n + 1.
    let groups: Vec<u32> = nlsk
        .groups
        .iter()
        .enumerate()
        .flat_map(|(word_index, word)| (0..32).filter(move |bit| word & (1 << bit) != 0).map(move |bit| word_index as u32 * 32 + bit + 1))
        .collect();
    let netlink = NetlinkSocket {
        family: netlink_family(nlsk.protocol),
        portid: nlsk.portid,
        groups,
        dst_portid: nlsk.dst_portid,
        dst_group: nlsk.dst_group,
    };
    let mut local = format!("{} portid {}", netlink.family, nlsk.portid);
    if !netlink.groups.is_empty() {
        let groups: Vec<String> = netlink.groups.iter().map(u32::to_string).collect();
        local.push_str(&format!(" groups {}", groups.join(",")));
    }
    let remote = match (nlsk.dst_portid, nlsk.dst_group) {
        (0, 0) => None,
        (portid, 0) => Some(format!("portid {portid}")),
        (portid, group) => Some(format!("portid {portid} group {group}")),
    };
    Socket {
        protocol: "netlink",
        family: "netlink",
        socket_type: "raw",
        inode: nlsk.ino,
        local: Some(local),
        remote,
        state: tcp_state(nlsk.state),
        listening: false,
        receive_queue_bytes: None,
        send_queue_bytes: None,
        packet: None,
        netlink: Some(netlink),
    }
}

/// Names the common ethertypes of <linux/if_ether.h>.
fn ethertype_name(ethertype: u16) -> String {
    match ethertype {
        0x0003 => "all".to_string(),
        0x0800 => "ip".to_string(),
        0x0806 => "arp".to_string(),
        0x86dd => "ipv6".to_string(),
        other => format!("ethertype {other:#06x}"),
    }
}

/// Names the netlink families of <linux/netlink.h>.
fn netlink_family(protocol: u32) -> String {
    let name = match protocol {
        0 => "route",
        2 => "usersock",
        3 => "firewall",
        4 => "sock_diag",
        5 => "nflog",
        6 => "xfrm",
        7 => "selinux",
        8 => "iscsi",
        9 => "audit",
        10 => "fib_lookup",
        11 => "connector",
        12 => "netfilter",
        13 => "ip6_fw",
        14 => "dnrtmsg",
        15 => "kobject_uevent",
        16 => "generic",
        18 => "scsitransport",
        19 => "ecryptfs",
        20 => "rdma",
        21 => "crypto",
        22 => "smc",
        other => return format!("protocol {other}"),
    };
    name.to_string()
}

fn inet_socket(isk: &proto::InetSkEntry) -> Socket {
    let protocol = match (isk.proto, isk.r#type) {
        (IPPROTO_TCP, _) => "tcp",
        (IPPROTO_UDP, _) => "udp",
        _ => "raw",
    };
    let family = if isk.family == AF_INET6 { "inet6" } else { "inet" };
    let local = format_endpoint(isk.family, &isk.src_addr, isk.src_port);
    // An unconnected socket has an all-zero peer, which is not worth showing.
    let remote = (isk.dst_port != 0).then(|| format_endpoint(isk.family, &isk.dst_addr, isk.dst_port));
    Socket {
        protocol,
        family,
        socket_type: socket_type(isk.r#type),
        inode: isk.ino,
        local: Some(local),
        remote,
        state: tcp_state(isk.state),
        listening: isk.state == TCP_LISTEN,
        receive_queue_bytes: None,
        send_queue_bytes: None,
        packet: None,
        netlink: None,
    }
}

fn unix_socket(usk: &proto::UnixSkEntry) -> Socket {
    let local = match usk.name.split_first() {
        None => None,
        Some((0, rest)) => Some(format!("@{}", String::from_utf8_lossy(rest))),
        Some(_) => {
            // CRIU keeps sun_path as the kernel returns it, NUL included.
            let path = usk.name.split(|byte| *byte == 0).next().unwrap_or_default();
            let name = String::from_utf8_lossy(path).into_owned();
            Some(match &usk.name_dir {
                Some(dir) if !name.starts_with('/') => format!("{dir}/{name}"),
                _ => name,
            })
        }
    };
    Socket {
        protocol: "unix",
        family: "unix",
        socket_type: socket_type(usk.r#type),
        inode: usk.ino,
        local,
        remote: (usk.peer != 0).then(|| format!("peer inode {}", usk.peer)),
        state: tcp_state(usk.state),
        listening: usk.state == TCP_LISTEN,
        receive_queue_bytes: None,
        send_queue_bytes: None,
        packet: None,
        netlink: None,
    }
}

/// Names a terminal's device file from its device number, as the kernel
/// numbers terminals in Documentation/admin-guide/devices.txt.
fn tty_device(info: &proto::TtyInfoEntry) -> String {
    // The kernel's new_encode_dev(): the minor's low byte, the major,
    // then the minor's high bits.
    let major = (info.rdev >> 8) & 0xfff;
    let minor = (info.rdev & 0xff) | ((info.rdev >> 12) & 0xfff00);
    match (major, minor) {
        // Majors 136 to 143 number the Unix98 pty slaves in blocks of 256.
        (136..=143, _) => format!("/dev/pts/{}", info.pty.map(|pty| pty.index).unwrap_or((major - 136) * 256 + minor)),
        (5, 0) => "/dev/tty".to_string(),
        (5, 1) => "/dev/console".to_string(),
        (5, 2) => format!("/dev/ptmx (pts {})", info.pty.map(|pty| pty.index.to_string()).unwrap_or_else(|| "?".to_string())),
        (4, 0..=63) => format!("/dev/tty{minor}"),
        (4, _) => format!("/dev/ttyS{}", minor - 64),
        _ => format!("tty {major}:{minor}"),
    }
}

/// Formats an address CRIU stores as 32-bit words in network byte order.
fn format_endpoint(family: u32, words: &[u32], port: u32) -> String {
    // CRIU copies the kernel's in_addr bytes into these words, so on the
    // little-endian hosts CRIU runs on, the bytes of each word in memory
    // order are the address in network order.
    let bytes: Vec<u8> = words.iter().flat_map(|word| word.to_le_bytes()).collect();
    match (family, bytes.len()) {
        (AF_INET, 4) => format!("{}:{port}", Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
        (AF_INET6, 16) => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(&bytes);
            format!("[{}]:{port}", Ipv6Addr::from(octets))
        }
        (AF_INET, 0) => format!("0.0.0.0:{port}"),
        (AF_INET6, 0) => format!("[::]:{port}"),
        _ => format!("?:{port}"),
    }
}

/// Names the kernel's SOCK_* socket types.
fn socket_type(value: u32) -> &'static str {
    match value {
        1 => "stream",
        2 => "dgram",
        3 => "raw",
        5 => "seqpacket",
        _ => "unknown",
    }
}

/// Names the kernel's TCP_* state, which unix and netlink sockets share.
fn tcp_state(state: u32) -> &'static str {
    match state {
        1 => "ESTABLISHED",
        2 => "SYN_SENT",
        3 => "SYN_RECV",
        4 => "FIN_WAIT1",
        5 => "FIN_WAIT2",
        6 => "TIME_WAIT",
        7 => "CLOSE",
        8 => "CLOSE_WAIT",
        9 => "LAST_ACK",
        10 => "LISTEN",
        11 => "CLOSING",
        _ => "UNKNOWN",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_address_reads_in_network_order() {
        let word = u32::from_le_bytes([127, 0, 0, 1]);
        assert_eq!(format_endpoint(AF_INET, &[word], 8080), "127.0.0.1:8080");
    }

    #[test]
    fn abstract_unix_name_gets_at_sign() {
        let usk = proto::UnixSkEntry { name: b"\0bus".to_vec(), state: TCP_LISTEN, ..Default::default() };
        let socket = unix_socket(&usk);
        assert_eq!(socket.local.as_deref(), Some("@bus"));
        assert!(socket.listening);
    }

    #[test]
    fn unix_path_stops_at_nul() {
        let usk = proto::UnixSkEntry { name: b"/dev/log\0".to_vec(), r#type: 2, ..Default::default() };
        let socket = unix_socket(&usk);
        assert_eq!(socket.local.as_deref(), Some("/dev/log"));
        assert_eq!(socket.socket_type, "dgram");
    }

    #[test]
    fn unknown_id_is_described_as_unknown() {
        assert_eq!(describe(7, &HashMap::new(), &NameTables::default()).kind, "unknown");
    }

    #[test]
    fn netlink_groups_are_numbered_from_one() {
        let nlsk = proto::NetlinkSkEntry { protocol: 15, portid: 7, groups: vec![1, 1 << 2], ..Default::default() };
        let socket = netlink_socket(&nlsk);
        let netlink = socket.netlink.expect("netlink details");
        assert_eq!(netlink.family, "kobject_uevent");
        assert_eq!(netlink.groups, vec![1, 35]);
        assert_eq!(socket.local.as_deref(), Some("kobject_uevent portid 7 groups 1,35"));
    }

    #[test]
    fn packet_ethertype_reads_network_order() {
        let psk = proto::PacketSockEntry { r#type: 2, protocol: u32::from(0x0800u16.to_be()), ifindex: 1, ..Default::default() };
        let socket = packet_socket(&psk);
        assert_eq!(socket.local.as_deref(), Some("ifindex 1 ip"));
        let packet = socket.packet.expect("packet details");
        assert_eq!(packet.ethertype, 0x0800);
        assert_eq!(packet.tpacket_version, 1);
        assert_eq!(packet.fanout, None);
    }

    #[test]
    fn tty_device_names_pts_and_console() {
        let pts = proto::TtyInfoEntry { rdev: 136 << 8, pty: Some(proto::TtyPtyEntry { index: 0 }), ..Default::default() };
        assert_eq!(tty_device(&pts), "/dev/pts/0");
        let console = proto::TtyInfoEntry { rdev: (5 << 8) | 1, ..Default::default() };
        assert_eq!(tty_device(&console), "/dev/console");
        let serial = proto::TtyInfoEntry { rdev: (4 << 8) | 65, ..Default::default() };
        assert_eq!(tty_device(&serial), "/dev/ttyS1");
    }

    #[test]
    fn memfd_is_named_by_inode() {
        let inodes = [proto::MemfdInodeEntry { name: "buffer".into(), inode_id: 4, ..Default::default() }];
        let names = NameTables::new(&inodes, &[]);
        let memfd = proto::MemfdFileEntry { id: 9, inode_id: 4, ..Default::default() };
        let file = proto::FileEntry { r#type: FdType::Memfd as i32, id: 9, memfd: Some(memfd), ..Default::default() };
        let files = index_files(std::slice::from_ref(&file));
        assert_eq!(describe(9, &files, &names).path.as_deref(), Some("/memfd:buffer"));
    }
}
