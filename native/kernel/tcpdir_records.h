/* Binary records shared by the BPF programs (tcpdir.bpf.c) and the addon (kernel_addon.cc).
 * The TypeScript layout (src/collectors/kernel/layout.ts) mirrors these offsets: change both.
 * All integers are host-endian; ports are host order; addresses are network-order bytes
 * (IPv4 in the first 4 bytes). No kernel pointer is ever written into a record. */
#ifndef TCPDIR_RECORDS_H
#define TCPDIR_RECORDS_H

#define TCPDIR_RECORD_VERSION 3

/* Slots of the netns_changes map (tcpdir.bpf.c): a namespace counts in slot inode % NETNS_SLOTS. */
#define NETNS_SLOTS 4096

/* flags */
#define TCPDIR_F_HAS_BUCKET        0x01 /* bind bucket (icsk_bind_hash / tw_tb) present */
#define TCPDIR_F_SHARES_LISTENER   0x02 /* bucket also held by a listener seen earlier in this pass */
#define TCPDIR_F_TW_CONNECT_BIND   0x04 /* TIME_WAIT: tw_connect_bind set */
#define TCPDIR_F_TW_CB_KNOWN       0x08 /* this kernel has tw_connect_bind */
#define TCPDIR_F_HAS_BUCKET2       0x10 /* no longer set: the bhash2 bucket is not read */
/* connect() chose the port (SOCK_CONNECT_BIND, or TIME_WAIT tw_connect_bind), so the bind
 * bucket was not read: fastreuse/fastreuseport 0, HAS_BUCKET and SHARES_LISTENER clear. The flag
 * already settles the direction (it comes before the bucket rules), and connect() never joins a
 * bucket made by bind() or listen() (__inet_hash_connect skips buckets with fastreuse or
 * fastreuseport >= 0). Only a listener that binds the port later, next to an SO_REUSEADDR client,
 * could share such a bucket: SHARES_LISTENER then stays clear, the direction is the same. The
 * bucket is a cache miss of its own per client socket. */
#define TCPDIR_F_BUCKET_NOT_READ   0x20

/* 96 bytes, one per socket, written by the iter/tcp program. With rqueue/wqueue/v6only (v2) it
 * carries every field tcpdir uses from sock_diag except timers and tcp_info, so a pass can
 * serve as the socket list itself (queues of listeners only: nothing uses a connection's). */
struct tcpdir_sock_rec {
	__u64 cookie;            /*  0 */
	__u64 listener_cookie;   /*  8: request socket: its listener; else 0 */
	__u64 bucket_listener;   /* 16: cookie of a live listener sharing the bind bucket; else 0 */
	__u8  saddr[16];         /* 24 */
	__u8  daddr[16];         /* 40 */
	__u32 inode;             /* 56 */
	__u32 uid;               /* 60 */
	__u32 max_ack_backlog;   /* 64 */
	__u16 sport;             /* 68 */
	__u16 dport;             /* 70 */
	__u8  family;            /* 72: AF_INET 2 / AF_INET6 10 */
	__u8  state;             /* 73: skc_state (TIME_WAIT 6, NEW_SYN_RECV 12) */
	__u8  userlocks;         /* 74: sk_userlocks (full sockets only) */
	__u8  flags;             /* 75: TCPDIR_F_* */
	__s8  fastreuse;         /* 76: bind bucket fastreuse (-1: port chosen by connect) */
	__s8  fastreuseport;     /* 77 */
	__s8  tb2_fastreuse;     /* 78: not read (0): nothing used it, and it cost a cache miss per socket */
	__u8  version;           /* 79: TCPDIR_RECORD_VERSION */
	__u32 rqueue;            /* 80: as sock_diag: LISTEN: accept queue length; else 0 (not read) */
	__u32 wqueue;            /* 84: LISTEN: accept backlog; else 0 (not read) */
	__u8  v6only;            /* 88: AF_INET6 full sockets: IPV6_V6ONLY 0/1; else 255 */
	__u8  pad[7];            /* 89 */
};

/* 104 bytes, one per state change, sent to the ring buffer by tp_btf/inet_sock_set_state (v3:
 * with the task, the namespace and, at a close, the connection's counters). */
struct tcpdir_event {
	__u64 cookie;            /*  0 */
	__u64 ts_ns;             /*  8: bpf_ktime_get_ns (CLOCK_MONOTONIC) */
	__u8  saddr[16];         /* 16 */
	__u8  daddr[16];         /* 32 */
	__u16 sport;             /* 48 */
	__u16 dport;             /* 50 */
	__u8  family;            /* 52 */
	__u8  oldstate;          /* 53 */
	__u8  newstate;          /* 54 */
	__u8  version;           /* 55 */
	__u32 pid;               /* 56: tgid of the task the change ran in: the connecting process for
	                          *     CLOSE->SYN_SENT (connect()); often unrelated in softirq */
	__u32 netns;             /* 60: inode of the socket's network namespace (nsfs id) */
	__u64 bytes_acked;       /* 64: ->CLOSE only: tcp_sock bytes_acked (sent and acknowledged) */
	__u64 bytes_received;    /* 72: ->CLOSE only: tcp_sock bytes_received */
	__u32 total_retrans;     /* 80: ->CLOSE only: tcp_sock total_retrans */
	__u32 pad;               /* 84 */
	char  comm[16];          /* 88: the task's comm, as pid */
};

/* 32 bytes, one per TCP socket descriptor of a process, written by the iter/task_file program. */
struct tcpdir_owner_rec {
	__u32 tgid;              /*  0 */
	__u32 fd;                /*  4 */
	__u32 inode;             /*  8: the socket's inode, as tcpdir_sock_rec.inode */
	__u32 pad;               /* 12 */
	char  comm[16];          /* 16: the thread group leader's comm */
};

#endif
