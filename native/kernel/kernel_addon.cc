// tcpdir_kernel: loads the tcpdir BPF programs (tcpdir.bpf.c, committed as the light skeleton
// gen/tcpdir.lskel.h and loaded by loader.c without libbpf) and hands their raw records to
// JS. No policy here: decoding and classification live in src/collectors/kernel-evidence.ts.
//
//   open({events?, lifecycle?, wakeupBytes?}) -> undefined; throws Error with .code
//   iterate(onChunk?) -> Promise<Buffer>  one pass of the iter/tcp program (reader's netns); with
//                                         onChunk, whole records stream to it as they are read
//   iterateInNetns(fd) -> Promise<Buffer> same, in the netns of an open ns/net fd (CAP_SYS_ADMIN)
//   owners() -> Promise<Buffer> | null    one pass of the iter/task_file program: every process's
//                                         TCP socket descriptors (null: the program is not attached)
//   drainEvents() -> Buffer               tracepoint events collected since the last drain
//   drainEventsInto(buf) -> bytes         as many of them as fit, copied into buf (the rest wait)
//   stats() -> {kernelDrops, userDrops, pendingBytes}
//   netnsChanges(inodes) -> Float64Array | null  change counts per netns (see tcpdir.bpf.c)
//   close()
#include <napi.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <algorithm>
#include <thread>
#include <vector>

#include <linux/types.h>

#include "loader.h"
#include "ringbuf.h"
#include "tcpdir_records.h"

namespace {

constexpr size_t kMaxPendingEvents = 16u << 20;  // bytes kept for JS before counting drops (memory stays bounded when JS falls behind)

struct State {
  tcpdir_loaded ld{nullptr, -1, -1, -1, -1, -1, -1, -1};
  std::unique_ptr<RingBuf> rb;
  std::thread reader;
  std::atomic<bool> running{false};
  std::mutex rb_mu;  // one consumer of the ring buffer at a time (reader thread, iterator flush)
  std::mutex mu;  // guards pending, user_drops
  std::vector<uint8_t> pending;
  uint64_t user_drops = 0;

  // In the reader's epoll set: StopReader wakes it at once, not at its next 100 ms timeout
  // (a one-shot `list` spent 0-100 ms of its exit waiting for that join).
  int stop_fd = -1;

  void StopReader() {
    if (running.exchange(false) && reader.joinable()) {
      uint64_t one = 1;
      if (stop_fd >= 0) (void)!write(stop_fd, &one, sizeof one);
      reader.join();
    }
  }
  ~State() {
    StopReader();
    if (stop_fd >= 0) close(stop_fd);
    rb.reset();
    tcpdir_loader_destroy(&ld);
  }
};

std::mutex g_state_mu;
std::shared_ptr<State> g_state;

std::shared_ptr<State> Current() {
  std::lock_guard<std::mutex> lk(g_state_mu);
  return g_state;
}

void OnEvent(State* st, const uint8_t* p, size_t size) {
  std::lock_guard<std::mutex> lk(st->mu);
  if (st->pending.size() + size > kMaxPendingEvents) {
    st->user_drops++;
    return;
  }
  st->pending.insert(st->pending.end(), p, p + size);
}

void Consume(State* st) {
  std::lock_guard<std::mutex> lk(st->rb_mu);
  st->rb->Consume([st](const uint8_t* p, size_t n) { OnEvent(st, p, n); });
}

// The BPF side wakes us only past wakeup_bytes; otherwise the 100 ms wait times out and drains
// (StopReader wakes it through stop_fd).
// Consuming is always under rb_mu: an iterator pass also flushes the ring (see IterateWorker).
void ReaderLoop(State* st) {
  int efd = st->rb->EpollFd();
  while (st->running.load()) {
    epoll_event ev;
    epoll_wait(efd, &ev, 1, 100);
    Consume(st);
  }
  Consume(st);
}

Napi::Error MakeError(Napi::Env env, const std::string& code, const std::string& msg) {
  Napi::Error e = Napi::Error::New(env, msg);
  e.Set("code", Napi::String::New(env, code));
  return e;
}

std::string ErrnoCode(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case ENOENT: return "ENOENT";
    case ENOTSUP: return "ENOTSUP";
    case E2BIG: return "E2BIG";
    case ENOMEM: return "ENOMEM";
    case ESRCH: return "ESRCH";
    default: return "E" + std::to_string(err);
  }
}

Napi::Value Open(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool events = true;
  bool lifecycle = false;
  uint64_t wakeup = 256u << 10;
  if (info.Length() > 0 && info[0].IsObject()) {
    Napi::Object o = info[0].As<Napi::Object>();
    if (o.Has("events")) events = o.Get("events").ToBoolean();
    if (o.Has("lifecycle")) lifecycle = o.Get("lifecycle").ToBoolean();
    if (o.Has("wakeupBytes") && o.Get("wakeupBytes").IsNumber())
      wakeup = o.Get("wakeupBytes").As<Napi::Number>().Int64Value();
  }
  if (Current()) {
    MakeError(env, "EALREADY", "tcpdir_kernel: already open (call close() first)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
    MakeError(env, "ENOBTF",
              "tcpdir_kernel: this kernel has no BTF (/sys/kernel/btf/vmlinux is missing: it was built "
              "without CONFIG_DEBUG_INFO_BTF), so the CO-RE programs cannot be loaded")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }

  auto st = std::make_shared<State>();
  char what[256] = "";
  std::string log(64u << 10, '\0');
  int err = tcpdir_loader_load(&st->ld, wakeup, lifecycle ? 0 : 1, what, sizeof what, log.data(), log.size());
  log.resize(strlen(log.c_str()));
  if (log.size() > 1500) log = "..." + log.substr(log.size() - 1500);
  if (err) {
    int e = -err;
    char release[128] = "";
    bool too_old = tcpdir_kernel_too_old(release, sizeof release) != 0;
    std::string code = ErrnoCode(e), why;
    if (e == EPERM)
      why = "loading BPF programs needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN): run as root";
    else if (too_old) {
      code = "KERNEL_TOO_OLD";
      why = "kernel " + std::string(release) + " is too old: the eBPF programs need Linux " +
            std::to_string(TCPDIR_MIN_KERNEL_MAJOR) + "." + std::to_string(TCPDIR_MIN_KERNEL_MINOR) +
            " or later (the kernel applies their CO-RE relocations); " + what;
    } else if (e == EACCES || e == EINVAL || e == E2BIG || e == ENOTSUP || e == ESRCH) {
      code = "EVERIFIER";
      why = "the kernel rejected the programs (verifier or CO-RE relocation, " + std::string(what) + ")";
    } else
      why = std::string("loading the BPF programs failed: ") + what;
    MakeError(env, code, "tcpdir_kernel: " + why + (log.empty() ? "" : "\n" + log)).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  err = tcpdir_loader_attach_iter(&st->ld);
  if (err) {
    int e = -err;
    MakeError(env, e == EPERM ? "EPERM" : "EATTACH",
              "tcpdir_kernel: attaching the iter/tcp program failed (kernel >= 5.9 needed): " +
                  std::string(strerror(e)))
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  // Optional: without it owners() answers null and processes come from /proc.
  tcpdir_loader_attach_owners(&st->ld);
  if (events) {
    err = tcpdir_loader_attach_state(&st->ld);
    if (err) {
      int e = -err;
      MakeError(env, e == EPERM ? "EPERM" : "EATTACH",
                "tcpdir_kernel: attaching tp_btf/inet_sock_set_state failed: " + std::string(strerror(e)))
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    // Optional: without it namespaces are walked every time (netnsChanges answers null).
    tcpdir_loader_attach_changes(&st->ld);
    uint32_t max_entries = 0;
    auto rb = std::make_unique<RingBuf>();
    err = tcpdir_map_max_entries(st->ld.events_map_fd, &max_entries);
    if (!err) err = rb->Open(st->ld.events_map_fd, max_entries);
    if (err) {
      MakeError(env, ErrnoCode(-err), "tcpdir_kernel: mapping the event ring buffer failed: " + std::string(strerror(-err)))
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    st->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (st->stop_fd >= 0) {
      epoll_event wake{};
      wake.events = EPOLLIN;
      epoll_ctl(rb->EpollFd(), EPOLL_CTL_ADD, st->stop_fd, &wake);
    }
    st->rb = std::move(rb);
    st->running = true;
    st->reader = std::thread(ReaderLoop, st.get());
  }
  std::lock_guard<std::mutex> lk(g_state_mu);
  g_state = st;
  return env.Undefined();
}

// Records handed to JS per chunk when streaming: ~5,400 records, a few ms of JS work each, so
// JS indexes a pass while the kernel is still walking (the two overlap on two cores).
constexpr size_t kChunkBytes = 512u << 10;

// Reads one iterator pass on a pool thread. With a netns fd, the iterator fd is created inside
// that netns (the namespace is fixed when the read is opened) and the thread switches back.
// With an onChunk callback, whole records go to it in order as they are read, and the promise
// resolves (after the last chunk) with whatever was not sent: nothing, for a well-formed pass.
class IterateWorker : public Napi::AsyncProgressQueueWorker<uint8_t> {
 public:
  IterateWorker(Napi::Env env, std::shared_ptr<State> st, int link_fd, int netns_fd, const Napi::Function& noop,
                Napi::Value on_chunk)
      : Napi::AsyncProgressQueueWorker<uint8_t>(noop), st_(std::move(st)), link_fd_(link_fd), netns_fd_(netns_fd),
        deferred_(Napi::Promise::Deferred::New(env)) {
    if (on_chunk.IsFunction()) on_chunk_ = Napi::Persistent(on_chunk.As<Napi::Function>());
  }
  ~IterateWorker() override { free(data_); }
  Napi::Promise Promise() { return deferred_.Promise(); }

  void OnProgress(const uint8_t* data, size_t count) override {
    Napi::HandleScope scope(Env());
    // The JS side catches its own errors: a throw here would surface as an uncaught exception.
    on_chunk_.Call({Napi::Buffer<uint8_t>::Copy(Env(), data, count)});
  }

  void Execute(const ExecutionProgress& progress) override {
    // As the sock_diag addon does before each dump: give back the pages of earlier passes
    // (freed by Buffer finalizers on the main thread), or RSS creeps up under churn.
    malloc_trim(0);
    int link_fd = link_fd_;
    int fd;
    if (netns_fd_ >= 0) {
      int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
      if (self < 0) return Fail("EACCES", "opening /proc/thread-self/ns/net", errno);
      if (setns(netns_fd_, CLONE_NEWNET) != 0) {
        int e = errno;
        close(self);
        return Fail(ErrnoCode(e), "setns into the target netns (needs CAP_SYS_ADMIN)", e);
      }
      fd = tcpdir_iter_create(link_fd);
      int e = fd < 0 ? -fd : 0;
      // A pool thread left in a foreign netns would corrupt unrelated work: abort instead.
      if (setns(self, CLONE_NEWNET) != 0) abort();
      close(self);
      if (fd < 0) return Fail(ErrnoCode(e), "bpf_iter_create", e);
    } else {
      fd = tcpdir_iter_create(link_fd);
      if (fd < 0) return Fail(ErrnoCode(-fd), "bpf_iter_create", -fd);
    }
    // A plain malloc'd buffer: std::vector::resize would zero-fill the whole spare capacity
    // before every read (a read returns one ~32 KiB seq_file chunk), which cost more than the walk.
    for (;;) {
      if (cap_ - len_ < (64u << 10)) {
        size_t cap = cap_ ? cap_ * 2 : (1u << 20);
        auto* p = static_cast<uint8_t*>(realloc(data_, cap));
        if (!p) {
          close(fd);
          return Fail("ENOMEM", "growing the iterator buffer", ENOMEM);
        }
        data_ = p;
        cap_ = cap;
      }
      ssize_t n = read(fd, data_ + len_, cap_ - len_);
      if (n < 0) {
        if (errno == EINTR || errno == EAGAIN) continue;
        int e = errno;
        close(fd);
        return Fail(ErrnoCode(e), "reading the iterator", e);
      }
      if (n == 0) break;
      len_ += size_t(n);
      if (!on_chunk_.IsEmpty() && len_ >= kChunkBytes) SendWhole(progress);
    }
    close(fd);
    if (!on_chunk_.IsEmpty() && len_ > 0) SendWhole(progress);
    // Births of sockets this pass saw may still sit in the ring buffer (the BPF side wakes the
    // reader only in bulk): move them to the pending events now, so the drain that follows a
    // pass has them instead of up to 100 ms later.
    if (st_->rb && link_fd_ == st_->ld.iter_link_fd) Consume(st_.get());
  }
  void OnOK() override {
    Napi::Env env = Env();
    if (!on_chunk_.IsEmpty() || !data_) {
      // Streamed: only a torn record (normally nothing) is left; copy it and free the 1 MB+
      // buffer now rather than when a GC finalizes a tiny Buffer (V8 would not count the
      // block, so under churn hundreds of them could wait for a collection).
      deferred_.Resolve(Napi::Buffer<uint8_t>::Copy(env, data_ ? data_ : reinterpret_cast<const uint8_t*>(""), len_));
      return;
    }
    uint8_t* p = data_;
    size_t cap = cap_;
    data_ = nullptr;
    // The whole pass, handed over without a copy; its size is reported to V8 so that garbage
    // collection keeps pace with these off-heap blocks.
    Napi::MemoryManagement::AdjustExternalMemory(env, int64_t(cap));
    deferred_.Resolve(Napi::Buffer<uint8_t>::NewOrCopy(env, p, len_, [cap](Napi::Env e, uint8_t* d) {
      free(d);
      Napi::MemoryManagement::AdjustExternalMemory(e, -int64_t(cap));
    }));
  }
  void OnError(const Napi::Error&) override {
    deferred_.Reject(MakeError(Env(), code_, "tcpdir_kernel: " + what_).Value());
  }

 private:
  // Sends the whole records buffered so far; a partial record (a read may end mid-record) stays.
  void SendWhole(const ExecutionProgress& progress) {
    size_t whole = len_ - len_ % sizeof(tcpdir_sock_rec);
    if (whole == 0) return;
    progress.Send(data_, whole);
    memmove(data_, data_ + whole, len_ - whole);
    len_ -= whole;
  }
  void Fail(const std::string& code, const std::string& what, int err) {
    code_ = code;
    what_ = what + ": " + strerror(err);
    SetError(what_);
  }
  std::shared_ptr<State> st_;
  int link_fd_;
  int netns_fd_;
  Napi::Promise::Deferred deferred_;
  Napi::FunctionReference on_chunk_;
  uint8_t* data_ = nullptr;
  size_t len_ = 0, cap_ = 0;
  std::string code_, what_;
};

// Queues one pass of the iterator program behind `link_fd` on a pool thread.
Napi::Promise StartPass(Napi::Env env, std::shared_ptr<State> st, int link_fd, int netns_fd, Napi::Value on_chunk) {
  Napi::Function noop = Napi::Function::New(env, [](const Napi::CallbackInfo&) {});
  auto* w = new IterateWorker(env, std::move(st), link_fd, netns_fd, noop, on_chunk);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
}

Napi::Value IterateImpl(const Napi::CallbackInfo& info, int netns_fd) {
  Napi::Env env = info.Env();
  auto st = Current();
  if (!st) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Reject(MakeError(env, "ENOTOPEN", "tcpdir_kernel: iterate() before open()").Value());
    return d.Promise();
  }
  Napi::Value on_chunk = info.Length() > (netns_fd >= 0 ? 1u : 0u) ? info[netns_fd >= 0 ? 1 : 0] : env.Undefined();
  int link_fd = st->ld.iter_link_fd;
  return StartPass(env, std::move(st), link_fd, netns_fd, on_chunk);
}

Napi::Value Iterate(const Napi::CallbackInfo& info) { return IterateImpl(info, -1); }

Napi::Value IterateInNetns(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsNumber()) {
    Napi::TypeError::New(info.Env(), "iterateInNetns(fd): fd must be an open /proc/PID/ns/net descriptor")
        .ThrowAsJavaScriptException();
    return info.Env().Undefined();
  }
  return IterateImpl(info, info[0].As<Napi::Number>().Int32Value());
}

// A pass of iter/task_file on a pool thread, in this thread's pid namespace (tasks of others are
// not seen): 32-byte tcpdir_owner_rec records. No ring-buffer flush: it reads no sockets' births.
Napi::Value Owners(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto st = Current();
  if (!st || st->ld.owners_link_fd < 0) return env.Null();
  int link_fd = st->ld.owners_link_fd;
  return StartPass(env, std::move(st), link_fd, -1, env.Undefined());
}

Napi::Value DrainEvents(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto st = Current();
  if (!st) {
    MakeError(env, "ENOTOPEN", "tcpdir_kernel: drainEvents() before open()").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* v = new std::vector<uint8_t>();
  {
    std::lock_guard<std::mutex> lk(st->mu);
    v->swap(st->pending);
  }
  return Napi::Buffer<uint8_t>::New(
      env, v->data(), v->size(), [](Napi::Env, uint8_t*, std::vector<uint8_t>* p) { delete p; }, v);
}

// Moves as many whole pending events as fit into the caller's Buffer and returns their bytes;
// the rest stay pending. The pending vector keeps its capacity: drainEvents() hands it to JS and
// starts a new one, which grows again by doubling in fresh mmapped blocks (M_MMAP_THRESHOLD is
// 128 KiB), a page fault per 4 KiB: under churn a quarter of the server's system time.
Napi::Value DrainEventsInto(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto st = Current();
  if (!st) {
    MakeError(env, "ENOTOPEN", "tcpdir_kernel: drainEventsInto() before open()").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (info.Length() < 1 || !info[0].IsBuffer()) {
    Napi::TypeError::New(env, "tcpdir_kernel: drainEventsInto(buffer) needs a Buffer").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto b = info[0].As<Napi::Buffer<uint8_t>>();
  size_t room = b.Length() - b.Length() % sizeof(tcpdir_event);
  size_t n;
  {
    std::lock_guard<std::mutex> lk(st->mu);
    auto& p = st->pending;
    n = std::min(room, p.size());
    if (n > 0) {
      memcpy(b.Data(), p.data(), n);
      p.erase(p.begin(), p.begin() + n);
    }
    // A burst (JS behind, up to kMaxPendingEvents) is not kept for good.
    if (p.empty() && p.capacity() > (4u << 20)) std::vector<uint8_t>().swap(p);
  }
  return Napi::Number::New(env, double(n));
}

Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto st = Current();
  Napi::Object o = Napi::Object::New(env);
  if (!st) return env.Null();
  uint32_t k = 0;
  uint64_t kdrops = 0;
  tcpdir_map_lookup(st->ld.drops_map_fd, &k, &kdrops);
  std::lock_guard<std::mutex> lk(st->mu);
  o.Set("kernelDrops", Napi::Number::New(env, double(kdrops)));
  o.Set("userDrops", Napi::Number::New(env, double(st->user_drops)));
  o.Set("pendingBytes", Napi::Number::New(env, double(st->pending.size())));
  o.Set("eventsAttached", Napi::Boolean::New(env, st->ld.state_link_fd >= 0));
  return o;
}

// netnsChanges(inodes: number[]) -> Float64Array | null: the change count of each network
// namespace's slot (state changes, SYN-ACKs sent again), or null when they are not counted (a
// tracepoint is not attached).
Napi::Value NetnsChanges(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) {
    Napi::TypeError::New(env, "netnsChanges(inodes): inodes must be an array of numbers").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto st = Current();
  if (!st || st->ld.state_link_fd < 0 || st->ld.synack_link_fd < 0 || st->ld.changes_map_fd < 0) return env.Null();
  Napi::Array in = info[0].As<Napi::Array>();
  uint32_t n = in.Length();
  Napi::Float64Array out = Napi::Float64Array::New(env, n);
  for (uint32_t i = 0; i < n; i++) {
    Napi::Value v = in.Get(i);
    if (!v.IsNumber()) {
      Napi::TypeError::New(env, "netnsChanges(inodes): inodes must be an array of numbers").ThrowAsJavaScriptException();
      return env.Undefined();
    }
    uint32_t slot = uint32_t(uint64_t(v.As<Napi::Number>().DoubleValue()) % NETNS_SLOTS);
    uint64_t count = 0;
    if (tcpdir_map_lookup(st->ld.changes_map_fd, &slot, &count) != 0) return env.Null();
    out[i] = double(count);
  }
  return out;
}

Napi::Value Close(const Napi::CallbackInfo& info) {
  std::shared_ptr<State> st;
  {
    std::lock_guard<std::mutex> lk(g_state_mu);
    st.swap(g_state);
  }
  // Stop the reader now; links go when the last in-flight iterate() releases its reference.
  if (st) st->StopReader();
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // Pass buffers (up to ~10 MB) and their 512 KiB chunks are allocated on pool threads and
  // freed on the main thread. With glibc's default, a freed mmapped block raises the mmap
  // threshold, after which such blocks come from the heap and stay there: fix the threshold so
  // big transient blocks are always mmapped and go back to the system when freed. Also at most
  // two arenas (as tcpdir_sockdiag sets).
  mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  mallopt(M_ARENA_MAX, 2);
  // Stop the reader thread and detach the programs when the environment goes away without close().
  env.AddCleanupHook([]() {
    std::shared_ptr<State> st;
    {
      std::lock_guard<std::mutex> lk(g_state_mu);
      st.swap(g_state);
    }
    if (st) st->StopReader();
  });
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("iterate", Napi::Function::New(env, Iterate));
  exports.Set("iterateInNetns", Napi::Function::New(env, IterateInNetns));
  exports.Set("owners", Napi::Function::New(env, Owners));
  exports.Set("drainEvents", Napi::Function::New(env, DrainEvents));
  exports.Set("drainEventsInto", Napi::Function::New(env, DrainEventsInto));
  exports.Set("stats", Napi::Function::New(env, Stats));
  exports.Set("netnsChanges", Napi::Function::New(env, NetnsChanges));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("recordSize", Napi::Number::New(env, sizeof(tcpdir_sock_rec)));
  exports.Set("eventSize", Napi::Number::New(env, sizeof(tcpdir_event)));
  exports.Set("ownerSize", Napi::Number::New(env, sizeof(tcpdir_owner_rec)));
  return exports;
}

}  // namespace

NODE_API_MODULE(tcpdir_kernel, Init)
