// tcpdir_kernel: loads the tcpdir BPF programs (tcpdir.bpf.c) and hands their raw records to
// JS. No policy here: decoding and classification live in src/collectors/kernel-evidence.ts.
//
//   open({events?, allTransitions?, wakeupBytes?}) -> undefined; throws Error with .code
//   iterate(onChunk?) -> Promise<Buffer>  one pass of the iter/tcp program (reader's netns); with
//                                         onChunk, whole records stream to it as they are read
//   iterateInNetns(fd) -> Promise<Buffer> same, in the netns of an open ns/net fd (CAP_SYS_ADMIN)
//   drainEvents() -> Buffer               tracepoint events collected since the last drain
//   stats() -> {kernelDrops, userDrops, pendingBytes}
//   close()
#include <napi.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <sched.h>
#include <stdarg.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <linux/types.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "tcpdir_records.h"
#include "tcpdir.skel.h"

namespace {

// libbpf's diagnostics (verifier log, CO-RE failures) during open/load, quoted in errors.
std::mutex g_log_mu;
std::string g_log;
int LibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list ap) {
  if (level == LIBBPF_DEBUG) return 0;
  // One call can carry the whole verifier log, so format into a buffer sized for it.
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(nullptr, 0, fmt, ap2);
  va_end(ap2);
  if (n <= 0) return 0;
  std::string line(size_t(n) + 1, '\0');
  vsnprintf(line.data(), line.size(), fmt, ap);
  line.resize(n);
  std::lock_guard<std::mutex> lk(g_log_mu);
  g_log += line;
  if (g_log.size() > (256u << 10)) g_log.erase(0, g_log.size() - (128u << 10));
  return 0;
}
std::string LogTail(size_t max = 1500) {
  std::lock_guard<std::mutex> lk(g_log_mu);
  return g_log.size() <= max ? g_log : "..." + g_log.substr(g_log.size() - max);
}

constexpr size_t kMaxPendingEvents = 64u << 20;  // bytes kept for JS before counting drops

struct State {
  tcpdir_bpf* skel = nullptr;
  bpf_link* iter_link = nullptr;
  bpf_link* tp_link = nullptr;
  ring_buffer* rb = nullptr;
  std::thread reader;
  std::atomic<bool> running{false};
  std::mutex rb_mu;  // one consumer of the ring buffer at a time (reader thread, iterator flush)
  std::mutex mu;  // guards pending, user_drops
  std::vector<uint8_t> pending;
  uint64_t user_drops = 0;

  void StopReader() {
    if (running.exchange(false) && reader.joinable()) reader.join();
  }
  ~State() {
    StopReader();
    if (rb) ring_buffer__free(rb);
    if (tp_link) bpf_link__destroy(tp_link);
    if (iter_link) bpf_link__destroy(iter_link);
    if (skel) tcpdir_bpf__destroy(skel);
  }
};

std::mutex g_state_mu;
std::shared_ptr<State> g_state;

std::shared_ptr<State> Current() {
  std::lock_guard<std::mutex> lk(g_state_mu);
  return g_state;
}

int OnEvent(void* ctx, void* data, size_t size) {
  auto* st = static_cast<State*>(ctx);
  std::lock_guard<std::mutex> lk(st->mu);
  if (st->pending.size() + size > kMaxPendingEvents) {
    st->user_drops++;
    return 0;
  }
  auto* p = static_cast<uint8_t*>(data);
  st->pending.insert(st->pending.end(), p, p + size);
  return 0;
}

void Consume(State* st) {
  std::lock_guard<std::mutex> lk(st->rb_mu);
  ring_buffer__consume(st->rb);
}

// The BPF side wakes us only past wakeup_bytes; otherwise the 100 ms wait times out and drains.
// Waits on the ring's epoll fd itself (not ring_buffer__poll, which consumes) so consuming is
// always under rb_mu: an iterator pass also flushes the ring (see IterateWorker).
void ReaderLoop(State* st) {
  int efd = ring_buffer__epoll_fd(st->rb);
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
  bool all_transitions = false;
  uint64_t wakeup = 256u << 10;
  if (info.Length() > 0 && info[0].IsObject()) {
    Napi::Object o = info[0].As<Napi::Object>();
    if (o.Has("events")) events = o.Get("events").ToBoolean();
    if (o.Has("allTransitions")) all_transitions = o.Get("allTransitions").ToBoolean();
    if (o.Has("wakeupBytes") && o.Get("wakeupBytes").IsNumber())
      wakeup = o.Get("wakeupBytes").As<Napi::Number>().Int64Value();
  }
  if (Current()) {
    MakeError(env, "EALREADY", "tcpdir_kernel: already open (call close() first)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
    MakeError(env, "ENOBTF",
              "tcpdir_kernel: /sys/kernel/btf/vmlinux is missing: the kernel was built without "
              "CONFIG_DEBUG_INFO_BTF, so CO-RE programs cannot be loaded")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  {
    std::lock_guard<std::mutex> lk(g_log_mu);
    g_log.clear();
  }
  libbpf_set_print(LibbpfPrint);

  auto st = std::make_shared<State>();
  st->skel = tcpdir_bpf__open();
  if (!st->skel) {
    int err = errno;
    MakeError(env, ErrnoCode(err),
              "tcpdir_kernel: opening the BPF object failed: " + std::string(strerror(err)) + "\n" + LogTail())
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  st->skel->rodata->wakeup_bytes = wakeup;
  st->skel->rodata->births_only = !all_transitions;
  if (!events) bpf_program__set_autoload(st->skel->progs.tcpdir_state, false);

  int err = tcpdir_bpf__load(st->skel);
  if (err) {
    int e = -err;
    std::string code = ErrnoCode(e), why;
    if (e == EPERM)
      why = "loading BPF programs needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN)";
    else if (e == EACCES || e == EINVAL) {
      code = "EVERIFIER";
      why = "the kernel verifier or CO-RE relocation rejected the program (" + std::string(strerror(e)) + ")";
    } else
      why = std::string("loading the BPF programs failed: ") + strerror(e);
    MakeError(env, code, "tcpdir_kernel: " + why + "\n" + LogTail()).ThrowAsJavaScriptException();
    return env.Undefined();
  }
  st->iter_link = bpf_program__attach_iter(st->skel->progs.tcpdir_iter, nullptr);
  if (!st->iter_link) {
    int e = errno;
    MakeError(env, e == EPERM ? "EPERM" : "EATTACH",
              "tcpdir_kernel: attaching the iter/tcp program failed (kernel >= 5.9 needed): " +
                  std::string(strerror(e)) + "\n" + LogTail())
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (events) {
    st->tp_link = bpf_program__attach(st->skel->progs.tcpdir_state);
    if (!st->tp_link) {
      int e = errno;
      MakeError(env, e == EPERM ? "EPERM" : "EATTACH",
                "tcpdir_kernel: attaching tp_btf/inet_sock_set_state failed: " + std::string(strerror(e)) +
                    "\n" + LogTail())
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
    st->rb = ring_buffer__new(bpf_map__fd(st->skel->maps.events), OnEvent, st.get(), nullptr);
    if (!st->rb) {
      int e = errno;
      MakeError(env, ErrnoCode(e), "tcpdir_kernel: ring_buffer__new failed: " + std::string(strerror(e)))
          .ThrowAsJavaScriptException();
      return env.Undefined();
    }
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
  IterateWorker(Napi::Env env, std::shared_ptr<State> st, int netns_fd, const Napi::Function& noop, Napi::Value on_chunk)
      : Napi::AsyncProgressQueueWorker<uint8_t>(noop), st_(std::move(st)), netns_fd_(netns_fd),
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
    int link_fd = bpf_link__fd(st_->iter_link);
    int fd;
    if (netns_fd_ >= 0) {
      int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
      if (self < 0) return Fail("EACCES", "opening /proc/thread-self/ns/net", errno);
      if (setns(netns_fd_, CLONE_NEWNET) != 0) {
        int e = errno;
        close(self);
        return Fail(ErrnoCode(e), "setns into the target netns (needs CAP_SYS_ADMIN)", e);
      }
      fd = bpf_iter_create(link_fd);
      int e = errno;
      // A pool thread left in a foreign netns would corrupt unrelated work: abort instead.
      if (setns(self, CLONE_NEWNET) != 0) abort();
      close(self);
      if (fd < 0) return Fail(ErrnoCode(e), "bpf_iter_create", e);
    } else {
      fd = bpf_iter_create(link_fd);
      if (fd < 0) return Fail(ErrnoCode(errno), "bpf_iter_create", errno);
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
        return Fail(ErrnoCode(e), "reading the TCP iterator", e);
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
    if (st_->rb) Consume(st_.get());
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
  int netns_fd_;
  Napi::Promise::Deferred deferred_;
  Napi::FunctionReference on_chunk_;
  uint8_t* data_ = nullptr;
  size_t len_ = 0, cap_ = 0;
  std::string code_, what_;
};

Napi::Value IterateImpl(const Napi::CallbackInfo& info, int netns_fd) {
  Napi::Env env = info.Env();
  auto st = Current();
  if (!st) {
    auto d = Napi::Promise::Deferred::New(env);
    d.Reject(MakeError(env, "ENOTOPEN", "tcpdir_kernel: iterate() before open()").Value());
    return d.Promise();
  }
  Napi::Function noop = Napi::Function::New(env, [](const Napi::CallbackInfo&) {});
  Napi::Value on_chunk = info.Length() > (netns_fd >= 0 ? 1u : 0u) ? info[netns_fd >= 0 ? 1 : 0] : env.Undefined();
  auto* w = new IterateWorker(env, st, netns_fd, noop, on_chunk);
  Napi::Promise p = w->Promise();
  w->Queue();
  return p;
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

Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto st = Current();
  Napi::Object o = Napi::Object::New(env);
  if (!st) return env.Null();
  uint32_t k = 0;
  uint64_t kdrops = 0;
  bpf_map__lookup_elem(st->skel->maps.drops, &k, sizeof k, &kdrops, sizeof kdrops, 0);
  std::lock_guard<std::mutex> lk(st->mu);
  o.Set("kernelDrops", Napi::Number::New(env, double(kdrops)));
  o.Set("userDrops", Napi::Number::New(env, double(st->user_drops)));
  o.Set("pendingBytes", Napi::Number::New(env, double(st->pending.size())));
  o.Set("eventsAttached", Napi::Boolean::New(env, st->tp_link != nullptr));
  return o;
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
  exports.Set("drainEvents", Napi::Function::New(env, DrainEvents));
  exports.Set("stats", Napi::Function::New(env, Stats));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("recordSize", Napi::Number::New(env, sizeof(tcpdir_sock_rec)));
  exports.Set("eventSize", Napi::Number::New(env, sizeof(tcpdir_event)));
  return exports;
}

}  // namespace

NODE_API_MODULE(tcpdir_kernel, Init)
