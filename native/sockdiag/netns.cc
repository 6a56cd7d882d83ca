// dumpNamespaces([{ path, inode }], { tcpInfo, sockets }?) -> Promise<Array<NsResult>>: one sock_diag TCP
// dump per network namespace, plus that namespace's ip_local_port_range and ip_local_reserved_ports.
// sockets: false reads only the two sysctls (records empty): the caller lists the sockets otherwise
// (the eBPF iterator, read inside the namespace by tcpdir_kernel).
//
// A diag socket answers for the netns it was created in, and /proc/sys/net shows the netns of
// the thread that opens it. So threads owned by this addon (never a libuv pool thread, which
// runs unrelated work; one per core, sharing the list) enter each namespace with setns, create
// the socket, read both sysctl files, and go back; the dump itself then runs from the home
// namespace through that fd, as one TCPDIAG_GETSOCK walk for both families. If going back
// fails the process aborts: a thread stuck in a foreign netns must not live on.
//
// NsResult, ok:    { records: Buffer, count, interrupted, attempts, portRange: string|null,
//                    reservedPorts: string|null }
// NsResult, error: { error: { code, errno, syscall, message }, vanished: boolean }
//   vanished: the namespace is gone (ENOENT/ESRCH, or the path now names another namespace:
//   its process died and the pid was reused), which callers skip rather than report.
#include <errno.h>
#include <fcntl.h>
#include <napi.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "dump.h"
#include "netns-enter.h"

namespace tcpdir {
namespace {

constexpr size_t kMaxTargets = 4096;
constexpr size_t kMaxHelpers = 4;

struct Target {
  std::string path;
  uint64_t inode = 0;  // expected nsfs inode; 0 = do not check
};

struct NsResult {
  DumpResult dump;
  bool has_range = false, has_reserved = false;
  std::string range, reserved;
  int err = 0;  // positive errno; 0 = ok
  std::string call;
  bool vanished = false;
};

// Reads a small file whole; false (errno set) on failure.
bool ReadSmall(const char* path, std::string* out) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[4096];
  out->clear();
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      errno = e;
      return false;
    }
    if (n == 0) break;
    out->append(buf, size_t(n));
    if (out->size() > 65536) break;  // the files are tiny; never read without bound
  }
  close(fd);
  return true;
}

void Fail(NsResult* r, int err, std::string call, bool vanished = false) {
  r->err = err;
  r->call = std::move(call);
  r->vanished = vanished;
}

// Runs on the addon-owned thread. `home` is that thread's own netns fd.
void CollectOne(int home, const Target& t, bool tcp_info, bool sockets, NsResult* r) {
  int diag = -1, sock_err = 0;
  NetnsFailure f = InNetns(home, t.path, t.inode, [&] {
    // Inside the target namespace: only the socket and the two sysctl reads happen here.
    if (sockets) {
      diag = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
      sock_err = errno;
    }
    r->has_range = ReadSmall("/proc/sys/net/ipv4/ip_local_port_range", &r->range);
    r->has_reserved = ReadSmall("/proc/sys/net/ipv4/ip_local_reserved_ports", &r->reserved);
  });
  if (f.err) return Fail(r, f.err, std::move(f.call), f.vanished);
  if (!sockets) return;
  if (diag < 0) return Fail(r, sock_err, "socket(NETLINK_SOCK_DIAG) in " + t.path);
  DumpOptions opts;
  opts.fd = diag;
  opts.both_families = true;
  opts.tcp_info = tcp_info;
  DumpError de = DumpTcp(opts, &r->dump);
  close(diag);
  if (de.err) Fail(r, de.err, std::string(de.call) + " (" + t.path + ")");
}

struct Shared {
  const std::vector<Target>* targets;
  bool tcp_info = false;
  bool sockets = true;
  std::vector<NsResult>* results;
  std::atomic<size_t> next{0};
  std::atomic<int> fatal{0};
};

// Each helper takes the next namespace until none is left.
void CollectAll(Shared* sh) {
  int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) {
    sh->fatal = errno;
    return;
  }
  for (size_t i; (i = sh->next.fetch_add(1)) < sh->targets->size();) CollectOne(home, (*sh->targets)[i], sh->tcp_info, sh->sockets, &(*sh->results)[i]);
  close(home);
}

std::string ErrnoCode(int e) {
  const char* name = strerrorname_np(e);
  return name ? name : ("E" + std::to_string(e));
}

class NamespacesWorker : public Napi::AsyncWorker {
 public:
  NamespacesWorker(Napi::Env env, std::vector<Target> targets, bool tcp_info, bool sockets)
      : Napi::AsyncWorker(env, "tcpdir.sockdiag.dumpNamespaces"),
        deferred_(Napi::Promise::Deferred::New(env)),
        targets_(std::move(targets)),
        tcp_info_(tcp_info),
        sockets_(sockets),
        results_(targets_.size()) {}

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute() override {
    // The pool thread only waits; every setns happens on short-lived threads of our own. Each
    // dump walks the host-wide TCP hash, so the cost is CPU in the kernel: one helper per core
    // (at most kMaxHelpers) splits the namespaces between them.
    Shared sh;
    sh.targets = &targets_;
    sh.results = &results_;
    sh.tcp_info = tcp_info_;
    sh.sockets = sockets_;
    size_t n = std::thread::hardware_concurrency();
    n = std::max<size_t>(1, std::min({n == 0 ? 1 : n, kMaxHelpers, targets_.size()}));
    std::vector<std::thread> helpers;
    for (size_t i = 0; i < n; ++i) helpers.emplace_back(CollectAll, &sh);
    for (auto& t : helpers) t.join();
    fatal_ = sh.fatal;
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (fatal_) {
      Napi::Object err = Napi::Error::New(env, std::string("dumpNamespaces: opening /proc/thread-self/ns/net failed: ") +
                                                   strerror(fatal_)).Value();
      err.Set("code", ErrnoCode(fatal_));
      err.Set("errno", -fatal_);
      err.Set("syscall", "open");
      deferred_.Reject(err);
      return;
    }
    Napi::Array out = Napi::Array::New(env, results_.size());
    for (size_t i = 0; i < results_.size(); ++i) {
      NsResult& r = results_[i];
      Napi::Object o = Napi::Object::New(env);
      if (r.err) {
        Napi::Object e = Napi::Object::New(env);
        std::string code = ErrnoCode(r.err);
        e.Set("code", code);
        e.Set("errno", -r.err);
        e.Set("syscall", r.call);
        e.Set("message", r.call + ": " + strerror(r.err) + " (" + code + ")");
        o.Set("error", e);
        o.Set("vanished", r.vanished);
      } else {
        size_t count = r.dump.records.size();
        Napi::Buffer<uint8_t> buf = Napi::Buffer<uint8_t>::Copy(
            env, reinterpret_cast<const uint8_t*>(r.dump.records.data()), count * sizeof(Record));
        o.Set("records", buf);
        o.Set("count", double(count));
        o.Set("interrupted", r.dump.interrupted);
        o.Set("attempts", r.dump.attempts);
        o.Set("portRange", r.has_range ? Napi::Value(Napi::String::New(env, r.range)) : env.Null());
        o.Set("reservedPorts", r.has_reserved ? Napi::Value(Napi::String::New(env, r.reserved)) : env.Null());
      }
      out.Set(uint32_t(i), o);
    }
    deferred_.Resolve(out);
  }

  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::vector<Target> targets_;
  bool tcp_info_;
  bool sockets_;
  std::vector<NsResult> results_;
  int fatal_ = 0;
};

Napi::Value DumpNamespaces(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* usage = "dumpNamespaces(targets, options?): targets must be an array of { path: string, inode?: number }, options { tcpInfo?: boolean, sockets?: boolean }";
  if (info.Length() < 1 || !info[0].IsArray()) return RejectedPromise(env, usage);
  Napi::Array arr = info[0].As<Napi::Array>();
  if (arr.Length() > kMaxTargets) return RejectedPromise(env, "dumpNamespaces(targets): at most 4096 targets");
  std::vector<Target> targets(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value v = arr.Get(i);
    if (!v.IsObject()) return RejectedPromise(env, usage);
    Napi::Value p = v.As<Napi::Object>().Get("path");
    Napi::Value ino = v.As<Napi::Object>().Get("inode");
    if (env.IsExceptionPending()) return env.Null();
    if (!p.IsString()) return RejectedPromise(env, usage);
    targets[i].path = p.As<Napi::String>().Utf8Value();
    if (ino.IsNumber()) targets[i].inode = uint64_t(ino.As<Napi::Number>().Int64Value());
    else if (!ino.IsUndefined() && !ino.IsNull()) return RejectedPromise(env, usage);
  }
  // tcpInfo: struct tcp_info with each socket, as dump() gives for our own namespace (the
  // heuristics' syn-acked evidence reads it when there is no kernel evidence).
  bool tcp_info = false, sockets = true;
  if (info.Length() > 1 && !info[1].IsUndefined()) {
    if (!info[1].IsObject()) return RejectedPromise(env, usage);
    Napi::Value ti = info[1].As<Napi::Object>().Get("tcpInfo");
    if (env.IsExceptionPending()) return env.Null();
    if (!ti.IsUndefined() && !ti.IsBoolean()) return RejectedPromise(env, usage);
    tcp_info = ti.IsBoolean() && ti.As<Napi::Boolean>().Value();
    Napi::Value so = info[1].As<Napi::Object>().Get("sockets");
    if (env.IsExceptionPending()) return env.Null();
    if (!so.IsUndefined() && !so.IsBoolean()) return RejectedPromise(env, usage);
    sockets = !so.IsBoolean() || so.As<Napi::Boolean>().Value();
  }
  auto* w = new NamespacesWorker(env, std::move(targets), tcp_info, sockets);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

}  // namespace

void InitNetns(Napi::Env env, Napi::Object exports) {
  exports.Set("dumpNamespaces", Napi::Function::New(env, DumpNamespaces, "dumpNamespaces"));
}

}  // namespace tcpdir
