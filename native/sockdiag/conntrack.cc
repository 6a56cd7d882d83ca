// ctnetlink (NETLINK_NETFILTER, NFNL_SUBSYS_CTNETLINK) readers. Raw bytes only: every reply
// message (nlmsghdr + nfgenmsg + attributes, as the kernel sent it) is copied out unchanged and
// src/collectors/conntrack.ts decodes them, so a captured reply is a test fixture as it is.
//
// conntrackDump([{ path?, inode? }]) -> Promise<Array<Result>>: one IPCTNL_MSG_CT_GET dump
//   (AF_UNSPEC: IPv4 and IPv6) per network namespace; path null/absent = the caller's own.
// conntrackSubscribe(path?) -> Promise<{ fd } | Result with error>: a non-blocking socket in that
//   namespace joined to NFNLGRP_CONNTRACK_NEW; the kernel queues NEW events on it until drained.
// conntrackDrain(fd) -> Promise<{ messages, overflowed }>: every queued event, without waiting.
//   overflowed: ENOBUFS was seen (events were lost). The fd is closed by the caller (fs.closeSync).
//
// Result: { messages: Buffer, count } or { error: { code, errno, syscall, message }, vanished }.
//   count: the namespace's nf_conntrack_count (-1 unreadable); 0 means it was not dumped.
// Sockets for other namespaces are created by a thread of our own that enters the namespace
// (InNetns, netns-enter.h, as netns.cc does); the dump itself then runs from home through that fd.
#include <errno.h>
#include <fcntl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
#include <linux/netlink.h>
#include <napi.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "netns-enter.h"

namespace tcpdir {
namespace {

constexpr size_t kMaxTargets = 4096;
constexpr size_t kMaxHelpers = 4;
constexpr size_t kRecvBuf = 64 * 1024;
// A dump bigger than this (about 400k entries) is cut off and reported as EFBIG rather than
// growing without bound.
constexpr size_t kMaxDumpBytes = 256u << 20;

struct Target {
  bool own = true;
  std::string path;
  uint64_t inode = 0;
};

struct Result {
  std::vector<uint8_t> messages;
  // nf_conntrack_count read inside the namespace; -1 when unreadable (conntrack not built in).
  long count = -1;
  int err = 0;
  std::string call;
  bool vanished = false;
  int fd = -1;  // subscribe only
};

void Fail(Result* r, int err, std::string call, bool vanished = false) {
  r->err = err;
  r->call = std::move(call);
  r->vanished = vanished;
}

// The namespace's nf_conntrack_count (the sysctl shows the netns of the thread reading it), or -1.
long ReadCount() {
  int fd = open("/proc/sys/net/netfilter/nf_conntrack_count", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[32];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  return strtol(buf, nullptr, 10);
}

// A NETLINK_NETFILTER socket inside `t`'s namespace (entered and left on this thread), or -1 with
// r filled in. groups: multicast groups to bind to (0: none). Also reads r->count in there.
int OpenIn(const Target& t, uint32_t groups, Result* r) {
  int fd = -1, e = 0;
  auto open_socket = [&] {
    fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
    e = errno;
    r->count = ReadCount();
  };
  if (t.own) {
    open_socket();
  } else {
    int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (home < 0) return Fail(r, errno, "open /proc/thread-self/ns/net"), -1;
    NetnsFailure f = InNetns(home, t.path, t.inode, open_socket);
    close(home);
    if (f.err) return Fail(r, f.err, std::move(f.call), f.vanished), -1;
  }
  if (fd < 0) return Fail(r, e, "socket(NETLINK_NETFILTER)"), -1;
  sockaddr_nl local;
  memset(&local, 0, sizeof local);
  local.nl_family = AF_NETLINK;
  local.nl_groups = groups;
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    e = errno;
    close(fd);
    // Joining a conntrack group checks CAP_NET_ADMIN at bind time (nfnetlink_bind).
    return Fail(r, e, groups ? "bind(NFNLGRP_CONNTRACK_NEW)" : "bind(NETLINK_NETFILTER)"), -1;
  }
  // Events queue here between collections: 4 MiB (about 20k NEW events) past net.core.rmem_max
  // when privileged (SO_RCVBUFFORCE), else what rmem_max allows. Best effort; overflow is counted.
  int rcv = 4 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) != 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  return fd;
}

// Dumps every conntrack entry through fd into r->messages (IPCTNL_MSG_CT_NEW messages only).
void DumpThrough(int fd, Result* r) {
  static uint32_t seq_base = 0x43740000;
  uint32_t seq = __atomic_add_fetch(&seq_base, 1, __ATOMIC_RELAXED);
  struct {
    nlmsghdr nlh;
    nfgenmsg nfg;
  } req;
  memset(&req, 0, sizeof req);
  req.nlh.nlmsg_len = sizeof req;
  req.nlh.nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
  req.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.nlh.nlmsg_seq = seq;
  req.nfg.nfgen_family = AF_UNSPEC;
  req.nfg.version = NFNETLINK_V0;
  sockaddr_nl kernel;
  memset(&kernel, 0, sizeof kernel);
  kernel.nl_family = AF_NETLINK;
  for (;;) {
    if (sendto(fd, &req, sizeof req, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) >= 0) break;
    if (errno != EINTR && errno != EAGAIN) return Fail(r, errno, "sendto(IPCTNL_MSG_CT_GET)");
  }
  std::vector<uint8_t> buf(kRecvBuf);
  for (;;) {
    sockaddr_nl from;
    socklen_t fl = sizeof from;
    ssize_t got = recvfrom(fd, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &fl);
    if (got < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      return Fail(r, errno, "recvfrom(ctnetlink dump)");
    }
    if (got == 0) return Fail(r, ECONNRESET, "recvfrom(ctnetlink dump)");
    if (from.nl_pid != 0) continue;
    int left = int(got);
    for (const nlmsghdr* h = reinterpret_cast<const nlmsghdr*>(buf.data()); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_seq != seq) continue;
      if (h->nlmsg_type == NLMSG_DONE) return;
      if (h->nlmsg_type == NLMSG_ERROR) {
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) return Fail(r, EPROTO, "ctnetlink");
        int e = static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
        if (e == 0) continue;
        return Fail(r, -e, "ctnetlink dump");
      }
      if (r->messages.size() + h->nlmsg_len > kMaxDumpBytes) return Fail(r, EFBIG, "ctnetlink dump (over 256 MiB)");
      const uint8_t* p = reinterpret_cast<const uint8_t*>(h);
      r->messages.insert(r->messages.end(), p, p + NLMSG_ALIGN(h->nlmsg_len));
    }
  }
}

// Reads whatever the kernel queued on a subscribed socket, without waiting.
void DrainFd(int fd, Result* r, bool* overflowed) {
  std::vector<uint8_t> buf(kRecvBuf);
  for (;;) {
    ssize_t got = recv(fd, buf.data(), buf.size(), MSG_DONTWAIT);
    if (got < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return;
      // The kernel dropped events: the socket buffer was full. Keep reading what is left.
      if (errno == ENOBUFS) {
        *overflowed = true;
        continue;
      }
      return Fail(r, errno, "recv(NFNLGRP_CONNTRACK_NEW)");
    }
    if (got == 0) return;
    int left = int(got);
    for (const nlmsghdr* h = reinterpret_cast<const nlmsghdr*>(buf.data()); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_type == NLMSG_ERROR || h->nlmsg_type == NLMSG_DONE) continue;
      if (r->messages.size() + h->nlmsg_len > kMaxDumpBytes) return Fail(r, EFBIG, "conntrack events (over 256 MiB)");
      const uint8_t* p = reinterpret_cast<const uint8_t*>(h);
      r->messages.insert(r->messages.end(), p, p + NLMSG_ALIGN(h->nlmsg_len));
    }
  }
}

std::string ErrnoCode(int e) {
  const char* name = strerrorname_np(e);
  return name ? name : ("E" + std::to_string(e));
}

Napi::Object ErrorObject(Napi::Env env, const Result& r) {
  Napi::Object e = Napi::Object::New(env);
  std::string code = ErrnoCode(r.err);
  e.Set("code", code);
  e.Set("errno", -r.err);
  e.Set("syscall", r.call);
  e.Set("message", r.call + ": " + strerror(r.err) + " (" + code + ")");
  return e;
}

Napi::Value ResultValue(Napi::Env env, Result& r) {
  Napi::Object o = Napi::Object::New(env);
  if (r.err) {
    o.Set("error", ErrorObject(env, r));
    o.Set("vanished", r.vanished);
  } else {
    o.Set("messages", Napi::Buffer<uint8_t>::Copy(env, r.messages.data(), r.messages.size()));
    o.Set("count", double(r.count));
  }
  return o;
}

class DumpWorker : public Napi::AsyncWorker {
 public:
  DumpWorker(Napi::Env env, std::vector<Target> targets)
      : Napi::AsyncWorker(env, "tcpdir.conntrack.dump"), deferred_(Napi::Promise::Deferred::New(env)), targets_(std::move(targets)), results_(targets_.size()) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    // setns happens on threads of our own, never on the libuv pool thread running this. A dump
    // walks the host-wide conntrack hash (every namespace's entries, all its buckets), so a
    // namespace whose nf_conntrack_count is 0 is not dumped at all: most namespaces of a container
    // host track nothing, and dumping 51 empty ones took 2.2 s.
    std::atomic<size_t> next{0};
    auto work = [this, &next] {
      for (size_t i; (i = next.fetch_add(1)) < targets_.size();) {
        Result* r = &results_[i];
        int fd = OpenIn(targets_[i], 0, r);
        if (fd < 0) continue;
        if (r->count != 0) DumpThrough(fd, r);
        close(fd);
      }
    };
    size_t n = std::thread::hardware_concurrency();
    n = std::max<size_t>(1, std::min({n == 0 ? 1 : n, kMaxHelpers, targets_.size()}));
    std::vector<std::thread> helpers;
    for (size_t i = 0; i < n; ++i) helpers.emplace_back(work);
    for (auto& t : helpers) t.join();
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Napi::Array out = Napi::Array::New(env, results_.size());
    for (size_t i = 0; i < results_.size(); ++i) out.Set(uint32_t(i), ResultValue(env, results_[i]));
    deferred_.Resolve(out);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<Target> targets_;
  std::vector<Result> results_;
};

class SubscribeWorker : public Napi::AsyncWorker {
 public:
  SubscribeWorker(Napi::Env env, Target t) : Napi::AsyncWorker(env, "tcpdir.conntrack.subscribe"), deferred_(Napi::Promise::Deferred::New(env)), target_(std::move(t)) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }
  void Execute() override {
    std::thread t([this] {
      int fd = OpenIn(target_, 1u << (NFNLGRP_CONNTRACK_NEW - 1), &result_);
      if (fd >= 0) {
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        result_.fd = fd;
      }
    });
    t.join();
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    Napi::Object o = Napi::Object::New(env);
    if (result_.err) {
      o.Set("error", ErrorObject(env, result_));
      o.Set("vanished", result_.vanished);
    } else {
      o.Set("fd", result_.fd);
    }
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Target target_;
  Result result_;
};

class DrainWorker : public Napi::AsyncWorker {
 public:
  DrainWorker(Napi::Env env, int fd) : Napi::AsyncWorker(env, "tcpdir.conntrack.drain"), deferred_(Napi::Promise::Deferred::New(env)), fd_(fd) {}
  Napi::Promise Promise() const { return deferred_.Promise(); }
  void Execute() override { DrainFd(fd_, &result_, &overflowed_); }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (result_.err) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("error", ErrorObject(env, result_));
      o.Set("vanished", false);
      deferred_.Resolve(o);
      return;
    }
    Napi::Object o = ResultValue(env, result_).As<Napi::Object>();
    o.Set("overflowed", overflowed_);
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  int fd_;
  Result result_;
  bool overflowed_ = false;
};

// { path?: string|null, inode?: number } -> Target; false when malformed.
bool ReadTarget(Napi::Env env, Napi::Value v, Target* t) {
  if (v.IsUndefined() || v.IsNull()) return true;
  if (!v.IsObject()) return false;
  Napi::Value p = v.As<Napi::Object>().Get("path");
  Napi::Value ino = v.As<Napi::Object>().Get("inode");
  if (env.IsExceptionPending()) return false;
  if (p.IsString()) {
    t->own = false;
    t->path = p.As<Napi::String>().Utf8Value();
  } else if (!p.IsUndefined() && !p.IsNull()) {
    return false;
  }
  if (ino.IsNumber()) t->inode = uint64_t(ino.As<Napi::Number>().Int64Value());
  else if (!ino.IsUndefined() && !ino.IsNull()) return false;
  return true;
}

Napi::Value ConntrackDump(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "conntrackDump(targets): targets must be an array of { path?: string | null, inode?: number }";
  if (info.Length() < 1 || !info[0].IsArray()) return RejectedPromise(env, usage);
  Napi::Array arr = info[0].As<Napi::Array>();
  if (arr.Length() > kMaxTargets) return RejectedPromise(env, "conntrackDump(targets): at most 4096 targets");
  std::vector<Target> targets(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    if (!ReadTarget(env, arr.Get(i), &targets[i])) return env.IsExceptionPending() ? env.Null() : RejectedPromise(env, usage);
  }
  auto* w = new DumpWorker(env, std::move(targets));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value ConntrackSubscribe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Target t;
  if (info.Length() > 0 && !ReadTarget(env, info[0], &t)) {
    return env.IsExceptionPending() ? env.Null() : RejectedPromise(env, "conntrackSubscribe(target?): target must be { path?: string | null, inode?: number }");
  }
  auto* w = new SubscribeWorker(env, std::move(t));
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value ConntrackDrain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsNumber()) return RejectedPromise(env, "conntrackDrain(fd): fd must be a number");
  int fd = info[0].As<Napi::Number>().Int32Value();
  if (fd < 0) return RejectedPromise(env, "conntrackDrain(fd): fd must be >= 0");
  auto* w = new DrainWorker(env, fd);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace

void InitConntrack(Napi::Env env, Napi::Object exports) {
  exports.Set("conntrackDump", Napi::Function::New(env, ConntrackDump, "conntrackDump"));
  exports.Set("conntrackSubscribe", Napi::Function::New(env, ConntrackSubscribe, "conntrackSubscribe"));
  exports.Set("conntrackDrain", Napi::Function::New(env, ConntrackDrain, "conntrackDrain"));
}

}  // namespace tcpdir
