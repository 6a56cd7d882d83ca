#include "dump.h"

#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstring>

namespace tcpdir {
namespace {

// The kernel caps one dump chunk at ~32 KiB (netlink max_recvmsg_len); 64 KiB leaves headroom.
// A truncated datagram is still reported as an error rather than silently losing sockets.
constexpr size_t kRecvBuf = 64 * 1024;
constexpr uint32_t kSeqBase = 0x7cd1a600;

// tcp_info offsets (fields are only ever appended, so read each only if the payload covers it).
constexpr size_t kTiRtt = 68, kTiRttVar = 72, kTiBytesAcked = 120, kTiBytesReceived = 128,
                 kTiSegsOut = 136, kTiSegsIn = 140, kTiUnacked = 24, kTiNotsent = 144, kTiBytesSent = 200,
                 kTiBytesRetrans = 208;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

template <typename T>
T Load(const uint8_t* p) {
  T v;
  memcpy(&v, p, sizeof v);
  return v;
}

// Cookies seen in this dump: open addressing over a flat array (std::unordered_set allocated a
// node per socket, a tenth of the whole dump at 100k sockets). Cookie 0 is never issued.
class CookieSet {
 public:
  explicit CookieSet(size_t expected) { Resize(Capacity(expected)); }
  // True when newly added.
  size_t size() const { return size_; }
  bool Insert(uint64_t c) {
    if ((size_ + 1) * 2 > slots_.size()) Grow();
    return Put(c);
  }

 private:
  static size_t Capacity(size_t n) {
    size_t cap = 1024;
    while (cap < n * 2) cap *= 2;
    return cap;
  }
  void Resize(size_t cap) {
    slots_.assign(cap, 0);
    mask_ = cap - 1;
    size_ = 0;
  }
  bool Put(uint64_t c) {
    size_t k = size_t((c * 0x9E3779B97F4A7C15ull) >> 32) & mask_;
    while (slots_[k] != 0) {
      if (slots_[k] == c) return false;
      k = (k + 1) & mask_;
    }
    slots_[k] = c;
    ++size_;
    return true;
  }
  void Grow() {
    std::vector<uint64_t> old;
    old.swap(slots_);
    Resize(old.size() * 2);
    for (uint64_t c : old)
      if (c != 0) Put(c);
  }
  std::vector<uint64_t> slots_;
  size_t mask_ = 0, size_ = 0;
};

struct Walk {
  std::vector<Record>* records;
  CookieSet* seen;
  const DumpOptions* opts;
  bool interrupted = false;
};

// Returns 0, or EPROTO when the message is shorter than inet_diag_msg.
int ParseOne(const nlmsghdr* nlh, Walk* w) {
  if (nlh->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) return EPROTO;
  const auto* m = static_cast<const inet_diag_msg*>(NLMSG_DATA(nlh));
  uint64_t cookie = uint64_t(m->id.idiag_cookie[0]) | (uint64_t(m->id.idiag_cookie[1]) << 32);
  // A dump is not a snapshot: a socket moved between hash buckets can be seen twice.
  if (!w->seen->Insert(cookie)) return 0;

  Record r;
  memset(&r, 0, sizeof r);
  r.family = m->idiag_family;
  r.state = m->idiag_state;
  r.timer = m->idiag_timer;
  r.retrans = m->idiag_retrans;
  r.v6only = kV6OnlyAbsent;
  r.sport = ntohs(m->id.idiag_sport);
  r.dport = ntohs(m->id.idiag_dport);
  size_t alen = m->idiag_family == AF_INET ? 4 : 16;
  memcpy(r.src, m->id.idiag_src, alen);
  memcpy(r.dst, m->id.idiag_dst, alen);
  r.inode = m->idiag_inode;
  r.uid = m->idiag_uid;
  r.expires = m->idiag_expires;
  r.rqueue = m->idiag_rqueue;
  r.wqueue = m->idiag_wqueue;
  r.cookie = cookie;

  int alen_total = int(nlh->nlmsg_len - NLMSG_LENGTH(sizeof(*m)));
  const rtattr* a = reinterpret_cast<const rtattr*>(m + 1);
  for (; RTA_OK(a, alen_total); a = RTA_NEXT(a, alen_total)) {
    const uint8_t* p = static_cast<const uint8_t*>(RTA_DATA(a));
    size_t len = RTA_PAYLOAD(a);
    switch (a->rta_type) {
      case INET_DIAG_SKV6ONLY:
        if (len >= 1) r.v6only = p[0] ? 1 : 0;
        break;
      case INET_DIAG_INFO:
        // The kernel sends its own sizeof(struct tcp_info): 104 B baseline, 280 B on 6.18.
        if (len >= kTiRttVar + 4) {
          r.rtt = Load<uint32_t>(p + kTiRtt);
          r.rttvar = Load<uint32_t>(p + kTiRttVar);
          r.unacked = Load<uint32_t>(p + kTiUnacked);
          r.flags |= kInfoBase;
        }
        if (len >= kTiBytesReceived + 8) {
          r.bytes_acked = Load<uint64_t>(p + kTiBytesAcked);
          r.bytes_received = Load<uint64_t>(p + kTiBytesReceived);
          r.flags |= kInfoBytes;
        }
        if (len >= kTiSegsIn + 4) {
          r.segs_out = Load<uint32_t>(p + kTiSegsOut);
          r.segs_in = Load<uint32_t>(p + kTiSegsIn);
          r.flags |= kInfoSegs;
        }
        if (len >= kTiNotsent + 4) {
          r.notsent_bytes = Load<uint32_t>(p + kTiNotsent);
          r.flags |= kInfoNotsent;
        }
        if (len >= kTiBytesRetrans + 8) {
          r.bytes_sent = Load<uint64_t>(p + kTiBytesSent);
          r.bytes_retrans = Load<uint64_t>(p + kTiBytesRetrans);
          r.flags |= kInfoSent;
        }
        break;
      default:
        break;  // unknown or unused attributes (SHUTDOWN, CGROUP_ID, SOCKOPT, PAD, ...)
    }
  }
  w->records->push_back(r);
  return 0;
}

// family 0: one legacy TCPDIAG_GETSOCK request for both families (see DumpOptions::both_families).
DumpError SendRequest(int fd, uint8_t family, uint32_t seq, const std::vector<uint8_t>& bc, bool info) {
  struct {
    nlmsghdr nlh;
    inet_diag_req_v2 r;
  } req;
  struct {
    nlmsghdr nlh;
    inet_diag_req r;
  } legacy;
  memset(&req, 0, sizeof req);
  memset(&legacy, 0, sizeof legacy);
  rtattr bcattr;
  memset(&bcattr, 0, sizeof bcattr);
  size_t bclen = bc.size();
  nlmsghdr* nlh = family ? &req.nlh : &legacy.nlh;
  nlh->nlmsg_len = (family ? sizeof req : sizeof legacy) + (bclen ? RTA_SPACE(bclen) : 0);
  nlh->nlmsg_type = family ? SOCK_DIAG_BY_FAMILY : TCPDIAG_GETSOCK;
  nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  nlh->nlmsg_seq = seq;
  req.r.sdiag_family = family;
  req.r.sdiag_protocol = IPPROTO_TCP;
  // INET_DIAG_SKV6ONLY, SHUTDOWN, CGROUP_ID and SOCKOPT come without asking; INFO only on request.
  req.r.idiag_ext = legacy.r.idiag_ext = info ? 1 << (INET_DIAG_INFO - 1) : 0;
  req.r.idiag_states = legacy.r.idiag_states = ~0u;  // all states; the SYN_RECV bit also selects request sockets

  static const uint8_t pad[RTA_ALIGNTO] = {0};
  iovec iov[4];
  int n = 0;
  if (family) iov[n++] = {&req, sizeof req};
  else iov[n++] = {&legacy, sizeof legacy};
  if (bclen) {
    bcattr.rta_type = INET_DIAG_REQ_BYTECODE;
    bcattr.rta_len = RTA_LENGTH(bclen);
    iov[n++] = {&bcattr, sizeof bcattr};
    iov[n++] = {const_cast<uint8_t*>(bc.data()), bclen};
    if (RTA_ALIGN(bclen) != bclen) iov[n++] = {const_cast<uint8_t*>(pad), RTA_ALIGN(bclen) - bclen};
  }
  sockaddr_nl kernel;
  memset(&kernel, 0, sizeof kernel);
  kernel.nl_family = AF_NETLINK;
  msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_name = &kernel;
  msg.msg_namelen = sizeof kernel;
  msg.msg_iov = iov;
  msg.msg_iovlen = n;
  for (;;) {
    if (sendmsg(fd, &msg, 0) >= 0) return {};
    if (errno != EINTR && errno != EAGAIN) return {errno, "sendmsg", family};
  }
}

// Reads one family's multi-part reply until NLMSG_DONE.
DumpError Receive(int fd, uint8_t family, uint32_t seq, std::vector<uint8_t>* buf, Walk* w) {
  for (;;) {
    sockaddr_nl from;
    iovec iov = {buf->data(), buf->size()};
    msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    ssize_t got = recvmsg(fd, &msg, 0);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return {errno, "recvmsg", family};
    }
    if (got == 0) return {ECONNRESET, "recvmsg", family};
    if (msg.msg_flags & MSG_TRUNC) return {EMSGSIZE, "recvmsg", family};
    if (from.nl_pid != 0) continue;  // not from the kernel

    int left = int(got);
    for (const nlmsghdr* h = reinterpret_cast<const nlmsghdr*>(buf->data()); NLMSG_OK(h, left);
         h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_seq != seq) continue;  // stale reply from an earlier request
      if (h->nlmsg_flags & NLM_F_DUMP_INTR) w->interrupted = true;
      if (h->nlmsg_type == NLMSG_DONE) {
        int status = 0;
        if (h->nlmsg_len >= NLMSG_LENGTH(sizeof(int))) memcpy(&status, NLMSG_DATA(h), sizeof status);
        if (status < 0) return {-status, "sock_diag", family};
        return {};
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) return {EPROTO, "sock_diag", family};
        int e = static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
        if (e == 0) continue;  // an ACK; we did not ask for one, but it is harmless
        return {-e, "sock_diag", family};
      }
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY && h->nlmsg_type != TCPDIAG_GETSOCK) continue;
      if (int e = ParseOne(h, w)) return {e, "sock_diag", family};
    }
    if (left != 0) return {EPROTO, "recvmsg", family};  // a partial message in the datagram
    if (w->opts->on_batch && w->records->size() >= w->opts->batch_records) {
      w->opts->on_batch(w->records->data(), w->records->size());
      w->records->clear();
    }
  }
}

DumpError DumpOnce(const DumpOptions& opts, uint32_t seq, DumpResult* out) {
  Fd owned(opts.fd >= 0 ? -1 : socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG));
  int fd = opts.fd >= 0 ? opts.fd : owned.get();
  if (fd < 0) return {errno, "socket", 0};
  // As ss does: a large receive buffer so the kernel never waits on us mid-dump. Best effort.
  int rcv = 1 << 20, snd = 32 * 1024;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &snd, sizeof snd);

  std::vector<uint8_t> buf(kRecvBuf);
  // Sized from the previous dump of this process: no regrowth (and no copy of 10 MB) mid-walk.
  static std::atomic<size_t> last_count{0};
  size_t expect = last_count.load() + last_count.load() / 8 + 64;
  CookieSet seen(expect);
  out->records.clear();
  out->records.reserve(opts.on_batch ? opts.batch_records + 512 : expect);
  Walk w{&out->records, &seen, &opts};
  static const uint8_t kPerFamily[] = {AF_INET, AF_INET6};
  static const uint8_t kBoth[] = {0};
  const uint8_t* fams = opts.both_families ? kBoth : kPerFamily;
  size_t nfam = opts.both_families ? 1 : 2;
  for (size_t k = 0; k < nfam; ++k) {
    uint8_t family = fams[k];
    if (DumpError e = SendRequest(fd, family, seq, opts.bytecode, opts.tcp_info); e.err) return e;
    if (DumpError e = Receive(fd, family, seq, &buf, &w); e.err) return e;
    ++seq;
  }
  out->interrupted = w.interrupted;
  last_count.store(seen.size());
  return {};
}

}  // namespace

DumpError DumpTcp(const DumpOptions& opts, DumpResult* out) {
  static std::atomic<uint32_t> next_seq{kSeqBase};
  for (int attempt = 1; attempt <= 2; ++attempt) {
    out->attempts = attempt;
    DumpError e = DumpOnce(opts, next_seq.fetch_add(2), out);
    if (e.err) {
      out->records.clear();
      return e;
    }
    // inet_diag's TCP dump never sets DUMP_INTR today; if it ever does, one retry, then accept.
    // A streamed dump cannot be taken back: it reports the flag instead.
    if (!out->interrupted || opts.on_batch) break;
  }
  return {};
}

}  // namespace tcpdir
