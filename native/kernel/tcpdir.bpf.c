// SPDX-License-Identifier: GPL-2.0
/* tcpdir kernel evidence: what the kernel remembers about who opened each TCP socket.
 *
 * 1. SEC("iter/tcp"): one struct tcpdir_sock_rec per socket of the reader's netns.
 * 2. SEC("tp_btf/inet_sock_set_state"): one struct tcpdir_event per TCP state change, to a
 *    ring buffer the addon drains on a timer.
 * 3. SEC("iter/task_file"): one struct tcpdir_owner_rec per TCP socket descriptor of every process
 *    (what `ss -p` reads from /proc/PID/fd, one readlink per descriptor, in one kernel walk).
 *
 * Kernel types are declared by hand with preserve_access_index (CO-RE): only the fields read
 * are listed, and libbpf relocates their offsets against the running kernel's BTF. Fields that
 * only newer kernels have are guarded with bpf_core_field_exists. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include "tcpdir_records.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_TCP 6
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_TIME_WAIT 6
#define TCP_LISTEN 10
#define TCP_CLOSE 7
#define TCP_NEW_SYN_RECV 12
#define SOCK_CONNECT_BIND 16 /* sk_userlocks, 6.16+; never set on older kernels */

struct in6_addr { union { __u8 u6_addr8[16]; } in6_u; } __attribute__((preserve_access_index));
typedef struct { __s64 counter; } atomic64_t;

struct inode { unsigned short i_mode; unsigned long i_ino; } __attribute__((preserve_access_index));
struct file { struct inode *f_inode; void *private_data; } __attribute__((preserve_access_index));
struct sock;
struct socket { struct file *file; struct sock *sk; } __attribute__((preserve_access_index));
struct task_struct {
	int tgid;
	char comm[16];
	struct task_struct *group_leader;
} __attribute__((preserve_access_index));

struct ns_common { unsigned int inum; } __attribute__((preserve_access_index));
struct net { struct ns_common ns; } __attribute__((preserve_access_index));
typedef struct { struct net *net; } possible_net_t;

struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	volatile unsigned char skc_state;
	unsigned char skc_ipv6only : 1;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
	atomic64_t skc_cookie;
	struct sock *skc_listener; /* in a union: read it with BPF_CORE_READ */
	possible_net_t skc_net;
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
	__u8 sk_userlocks;      /* a 4-bit bitfield on older kernels: read with the bitfield macro */
	__u32 sk_ack_backlog;
	__u16 sk_protocol;      /* a bitfield before 5.6 */
	__u32 sk_max_ack_backlog;
	unsigned long sk_ino;   /* 6.16+; older kernels: sk_socket->file->f_inode->i_ino */
	struct socket *sk_socket;
} __attribute__((preserve_access_index));

struct inet_bind_bucket {
	signed char fastreuse;
	signed char fastreuseport;
} __attribute__((preserve_access_index));

struct inet_connection_sock {
	struct inet_bind_bucket *icsk_bind_hash;
} __attribute__((preserve_access_index));

struct tcp_sock {
	struct inet_connection_sock inet_conn;
	__u64 bytes_acked;
	__u64 bytes_received;
	__u32 total_retrans;
} __attribute__((preserve_access_index));


struct inet_timewait_sock {
	struct sock_common __tw_common;
	unsigned int tw_connect_bind : 1; /* 6.16+ */
	struct inet_bind_bucket *tw_tb;
} __attribute__((preserve_access_index));

struct tcp_timewait_sock { struct inet_timewait_sock tw_sk; } __attribute__((preserve_access_index));

struct request_sock { struct sock_common __req_common; } __attribute__((preserve_access_index));
struct inet_request_sock { struct request_sock req; } __attribute__((preserve_access_index));
struct tcp_request_sock { struct inet_request_sock req; } __attribute__((preserve_access_index));

struct seq_file;
struct bpf_iter_meta {
	struct seq_file *seq;
	__u64 session_id;
	__u64 seq_num;
} __attribute__((preserve_access_index));

struct bpf_iter__tcp {
	struct bpf_iter_meta *meta;
	struct sock_common *sk_common;
	__u32 uid;
} __attribute__((preserve_access_index));

struct bpf_iter__task_file {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
	__u32 fd;
	struct file *file;
} __attribute__((preserve_access_index));

char LICENSE[] SEC("license") = "GPL";

/* Listener bind buckets seen in the current pass. Key: bucket address (never leaves the
 * kernel side); value: pass id + listener cookie. Entries of older passes are ignored by the
 * session check and recycled by LRU, so the map never needs clearing. */
struct bucket_owner {
	__u64 session;
	__u64 listener_cookie;
};
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	/* More live listeners than this in one netns only weakens rule 5 (LRU eviction); their
	 * children are still caught by the inherited backlog. */
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct bucket_owner);
} listener_buckets SEC(".maps");

/* Events; the reader is only woken past wakeup_bytes and otherwise drains on a timer. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} events SEC(".maps");

/* [0] events dropped because the ring buffer was full. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* Changes per network namespace, for skipping walks of namespaces where nothing changed: slot
 * (netns inode % NETNS_SLOTS) counts every TCP state change there (counted before the state is
 * stored: a walk that still reads the old state sees the count move) and every SYN-ACK sent
 * again. A shared slot only costs a needless walk. What changes without either (accept(), a
 * TIME_WAIT or request socket going away) is left to src/collectors/netns-walks.ts. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NETNS_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} netns_changes SEC(".maps");

static __always_inline void note_change(const struct sock_common *skc)
{
	__u32 slot = BPF_CORE_READ(skc, skc_net.net, ns.inum) % NETNS_SLOTS;
	__u64 *n = bpf_map_lookup_elem(&netns_changes, &slot);

	if (n)
		__sync_fetch_and_add(n, 1);
}

const volatile __u64 wakeup_bytes = 256 << 10;
/* 1: only the changes that tell how a socket was born (CLOSE->SYN_SENT, LISTEN->SYN_RECV,
 * SYN_RECV->ESTABLISHED): about 3 of the ~8 events of a short connection. 0: its lifecycle
 * (those, leaving a handshake state, and the change to CLOSE), for the history recorder. */
const volatile __u8 births_only = 1;

static __always_inline void copy_addrs(const struct sock_common *skc, __u8 family,
				       __u8 *saddr, __u8 *daddr)
{
	if (family == AF_INET) {
		__be32 s = skc->skc_rcv_saddr, d = skc->skc_daddr;
		__builtin_memcpy(saddr, &s, 4);
		__builtin_memcpy(daddr, &d, 4);
	} else if (family == AF_INET6) {
		/* Direct loads: skc is a BTF pointer, so these are inlined exception-table loads
		 * rather than bpf_probe_read_kernel calls (a fifth of the pass's time). */
		__builtin_memcpy(saddr, skc->skc_v6_rcv_saddr.in6_u.u6_addr8, 16);
		__builtin_memcpy(daddr, skc->skc_v6_daddr.in6_u.u6_addr8, 16);
	}
}

static __always_inline __u32 sock_inode(struct sock *sk)
{
	if (bpf_core_field_exists(sk->sk_ino))
		return (__u32)sk->sk_ino;
	return (__u32)BPF_CORE_READ(sk, sk_socket, file, f_inode, i_ino);
}

static __always_inline void note_bucket(struct tcpdir_sock_rec *r, __u64 session, __u64 bucket)
{
	struct bucket_owner *o;

	if (!bucket)
		return;
	r->flags |= TCPDIR_F_HAS_BUCKET;
	if (r->state == TCP_LISTEN) {
		struct bucket_owner v = { .session = session, .listener_cookie = r->cookie };
		bpf_map_update_elem(&listener_buckets, &bucket, &v, BPF_ANY);
		return;
	}
	o = bpf_map_lookup_elem(&listener_buckets, &bucket);
	if (o && o->session == session) {
		r->flags |= TCPDIR_F_SHARES_LISTENER;
		r->bucket_listener = o->listener_cookie;
	}
}

SEC("iter/tcp")
int tcpdir_iter(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct seq_file *seq = ctx->meta->seq;
	__u64 session = ctx->meta->session_id;
	struct tcpdir_sock_rec r = {};
	struct tcp_timewait_sock *tw;
	struct tcp_request_sock *req;
	struct tcp_sock *tp;

	if (!skc)
		return 0;
	r.version = TCPDIR_RECORD_VERSION;
	r.family = skc->skc_family;
	r.state = skc->skc_state;
	r.sport = skc->skc_num;
	r.dport = __builtin_bswap16(skc->skc_dport);
	r.uid = ctx->uid;
	r.cookie = bpf_get_socket_cookie(skc);
	r.v6only = 255;
	copy_addrs(skc, r.family, r.saddr, r.daddr);

	if (r.state == TCP_TIME_WAIT) {
		tw = bpf_skc_to_tcp_timewait_sock(skc);
		if (tw) {
			struct inet_timewait_sock *itw = &tw->tw_sk;
			struct inet_bind_bucket *tb;

			if (bpf_core_field_exists(itw->tw_connect_bind)) {
				r.flags |= TCPDIR_F_TW_CB_KNOWN;
				if (BPF_CORE_READ_BITFIELD_PROBED(itw, tw_connect_bind))
					r.flags |= TCPDIR_F_TW_CONNECT_BIND | TCPDIR_F_BUCKET_NOT_READ;
			}
			tb = r.flags & TCPDIR_F_BUCKET_NOT_READ ? 0 : BPF_CORE_READ(itw, tw_tb);
			if (tb) {
				r.fastreuse = BPF_CORE_READ(tb, fastreuse);
				r.fastreuseport = BPF_CORE_READ(tb, fastreuseport);
			}
			note_bucket(&r, session, (__u64)tb);
		}
	} else if (r.state == TCP_NEW_SYN_RECV) {
		req = bpf_skc_to_tcp_request_sock(skc);
		if (req) {
			struct sock_common *rc = &req->req.req.__req_common;
			struct sock *lsk = BPF_CORE_READ(rc, skc_listener);

			/* The listener was walked first, so its cookie is already generated. */
			if (lsk)
				r.listener_cookie = BPF_CORE_READ(lsk, __sk_common.skc_cookie.counter);
		}
	} else {
		tp = bpf_skc_to_tcp_sock(skc);
		if (tp) {
			/* The hot path (almost every socket): direct loads through BTF pointers, no
			 * probe-read helper calls. */
			struct sock *sk = (struct sock *)tp;
			struct inet_connection_sock *icsk = &tp->inet_conn;
			struct inet_bind_bucket *tb;

			r.userlocks = BPF_CORE_READ_BITFIELD(sk, sk_userlocks);
			/* See TCPDIR_F_BUCKET_NOT_READ. */
			if (r.userlocks & SOCK_CONNECT_BIND) {
				r.flags |= TCPDIR_F_BUCKET_NOT_READ;
				tb = 0;
			} else {
				tb = icsk->icsk_bind_hash;
			}
			r.max_ack_backlog = sk->sk_max_ack_backlog;
			/* A listener's queues, as sock_diag reports them (tcp_diag_get_info). A connection's
			 * (unread and unacknowledged bytes) are not read: nothing here uses them, and the
			 * sequence numbers they come from sit on cache lines of their own, missed per
			 * socket (the pass took ~8% longer with them; bench/kernel-iterate.ts). */
			if (r.state == TCP_LISTEN) {
				r.rqueue = sk->sk_ack_backlog;
				r.wqueue = r.max_ack_backlog;
			}
			if (r.family == AF_INET6)
				r.v6only = BPF_CORE_READ_BITFIELD(skc, skc_ipv6only);
			r.inode = sock_inode(sk);
			if (tb) {
				r.fastreuse = tb->fastreuse;
				r.fastreuseport = tb->fastreuseport;
			}
			note_bucket(&r, session, (__u64)tb);
		}
	}
	bpf_seq_write(seq, &r, sizeof(r));
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tcpdir_state, struct sock *sk, int oldstate, int newstate)
{
	struct tcpdir_event e = {};
	struct sock_common *skc = &sk->__sk_common;
	__u64 flags = BPF_RB_NO_WAKEUP;

	note_change(skc);
	if (births_only && newstate != TCP_SYN_SENT && oldstate != TCP_LISTEN &&
	    !(oldstate == TCP_SYN_RECV && newstate == TCP_ESTABLISHED))
		return 0;
	/* Otherwise a connection's life, not every step of its teardown: births, leaving a handshake
	 * state (SYN_SENT->ESTABLISHED carries the port connect() chose), and the close. */
	if (!births_only && newstate != TCP_SYN_SENT && newstate != TCP_CLOSE && oldstate != TCP_LISTEN &&
	    oldstate != TCP_SYN_SENT && oldstate != TCP_SYN_RECV)
		return 0;
	if (BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	e.version = TCPDIR_RECORD_VERSION;
	e.cookie = bpf_get_socket_cookie(sk);
	e.ts_ns = bpf_ktime_get_ns();
	e.family = BPF_CORE_READ(skc, skc_family);
	e.oldstate = oldstate;
	e.newstate = newstate;
	e.sport = BPF_CORE_READ(skc, skc_num);
	e.dport = __builtin_bswap16(BPF_CORE_READ(skc, skc_dport));
	if (e.family == AF_INET) {
		BPF_CORE_READ_INTO(&e.saddr, skc, skc_rcv_saddr);
		BPF_CORE_READ_INTO(&e.daddr, skc, skc_daddr);
	} else {
		BPF_CORE_READ_INTO(&e.saddr, skc, skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&e.daddr, skc, skc_v6_daddr);
	}
	e.pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(e.comm, sizeof(e.comm));
	e.netns = BPF_CORE_READ(skc, skc_net.net, ns.inum);
	if (newstate == TCP_CLOSE) {
		/* inet_sock_set_state only fires for full sockets: sk is a tcp_sock. */
		struct tcp_sock *tp = (struct tcp_sock *)sk;

		e.bytes_acked = BPF_CORE_READ(tp, bytes_acked);
		e.bytes_received = BPF_CORE_READ(tp, bytes_received);
		e.total_retrans = BPF_CORE_READ(tp, total_retrans);
	}
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		flags = BPF_RB_FORCE_WAKEUP;
	if (bpf_ringbuf_output(&events, &e, sizeof(e), flags)) {
		__u32 k = 0;
		__u64 *n = bpf_map_lookup_elem(&drops, &k);

		if (n)
			__sync_fetch_and_add(n, 1);
	}
	return 0;
}

/* A request socket (NEW_SYN_RECV) enters the table at a SYN without a state change; the first
 * SYN-ACK retransmission (after the initial RTO, 1 s) counts it. One younger than that may be
 * missed by a skipped walk, as by a walk made a moment earlier. (fexit/fentry hooks would count
 * it at once, but this kernel refuses to load them: EPERM.) */
SEC("tp_btf/tcp_retransmit_synack")
int BPF_PROG(tcpdir_synack_again, const struct sock *sk)
{
	note_change(&sk->__sk_common);
	return 0;
}

#define S_IFMT 00170000
#define S_IFSOCK 0140000

/* Every process's TCP socket descriptors: the kernel visits each task with a files table of its
 * own (threads sharing their leader's are skipped) and each open file in it. The comm is the
 * leader's, as /proc/PID/comm shows it for a tgid. */
SEC("iter/task_file")
int tcpdir_owners(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct tcpdir_owner_rec r = {};
	struct socket *sock;
	struct sock *sk;
	__u16 family;

	if (!task || !file)
		return 0;
	if ((BPF_CORE_READ(file, f_inode, i_mode) & S_IFMT) != S_IFSOCK)
		return 0;
	sock = BPF_CORE_READ(file, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (!sk || BPF_CORE_READ_BITFIELD_PROBED(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	r.tgid = BPF_CORE_READ(task, tgid);
	r.fd = ctx->fd;
	r.inode = (__u32)BPF_CORE_READ(file, f_inode, i_ino);
	BPF_CORE_READ_STR_INTO(&r.comm, task, group_leader, comm);
	bpf_seq_write(ctx->meta->seq, &r, sizeof(r));
	return 0;
}
