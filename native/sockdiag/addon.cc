// Node binding: dump(options?) -> Promise<{ records: Buffer, count, interrupted, attempts }>;
// options.onChunk(Buffer) receives the records in batches while the dump runs (then `records`
// holds only what was left).
// The netlink dump and the packing both run in AsyncWorker::Execute (libuv pool thread); the
// main thread only wraps the finished byte vector in a Buffer. Failures reject with an Error
// carrying Node-style `code` ('EPERM'), `errno` (negative, as in fs errors) and `syscall`.
#include <napi.h>
#include <malloc.h>
#include <string.h>

#include <string>

#include "dump.h"

namespace tcpdir {
void InitNetns(Napi::Env env, Napi::Object exports);  // netns.cc
void InitConntrack(Napi::Env env, Napi::Object exports);  // conntrack.cc
void InitProcFd(Napi::Env env, Napi::Object exports);  // proc-fd.cc
}

namespace {

using tcpdir::DumpError;
using tcpdir::DumpOptions;
using tcpdir::DumpResult;
using tcpdir::Record;

constexpr size_t kMaxBytecode = 4096;

// Family 0 after the socket exists is the one request for both families (TCPDIAG_GETSOCK).
const char* FamilyName(const DumpError& e) {
  if (e.family == 2) return "AF_INET";
  if (e.family == 10) return "AF_INET6";
  return strcmp(e.call, "socket") == 0 ? "netlink" : "AF_INET and AF_INET6";
}

Napi::Value MakeError(Napi::Env env, const DumpError& e) {
  const char* name = strerrorname_np(e.err);
  std::string code = name ? name : ("E" + std::to_string(e.err));
  std::string msg = std::string("sock_diag TCP dump (") + FamilyName(e) + ") failed in " +
                    e.call + ": " + strerror(e.err) + " (" + code + ")";
  Napi::Object err = Napi::Error::New(env, msg).Value();
  err.Set("code", Napi::String::New(env, code));
  err.Set("errno", Napi::Number::New(env, -e.err));
  err.Set("syscall", Napi::String::New(env, e.call));
  return err;
}

// With an onChunk callback the records stream to it in batches (in order, all before the promise
// settles) while the kernel walks; the promise then holds only the last, unsent ones.
class DumpWorker : public Napi::AsyncProgressQueueWorker<Record> {
 public:
  DumpWorker(Napi::Env env, DumpOptions opts, const Napi::Function& noop, Napi::Value on_chunk)
      : Napi::AsyncProgressQueueWorker<Record>(noop, "tcpdir.sockdiag.dump"),
        deferred_(Napi::Promise::Deferred::New(env)),
        opts_(std::move(opts)) {
    if (on_chunk.IsFunction()) on_chunk_ = Napi::Persistent(on_chunk.As<Napi::Function>());
  }

  Napi::Promise Promise() const { return deferred_.Promise(); }

  void Execute(const ExecutionProgress& progress) override {
#ifdef M_ARENA_MAX
    // Give back the pages of earlier dumps (freed by Buffer finalizers) before growing again;
    // off the main thread, once per snapshot. See Init.
    malloc_trim(0);
#endif
    if (!on_chunk_.IsEmpty()) opts_.on_batch = [&progress](const Record* r, size_t n) { progress.Send(r, n); };
    error_ = tcpdir::DumpTcp(opts_, &result_);
  }

  void OnProgress(const Record* data, size_t count) override {
    Napi::HandleScope scope(Env());
    // The JS side catches its own errors: a throw here would surface as an uncaught exception.
    on_chunk_.Call({Napi::Buffer<uint8_t>::Copy(Env(), reinterpret_cast<const uint8_t*>(data), count * sizeof(Record))});
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (error_.err) {
      deferred_.Reject(MakeError(env, error_));
      return;
    }
    size_t count = result_.records.size();
    Napi::Buffer<uint8_t> buf;
    if (count == 0) {
      // An external buffer over a null pointer comes back detached; use a real empty one.
      buf = Napi::Buffer<uint8_t>::New(env, 0);
    } else {
      // Hand the vector's storage to the Buffer without copying (NewOrCopy copies only where
      // external buffers are forbidden).
      auto* owned = new std::vector<Record>(std::move(result_.records));
      buf = Napi::Buffer<uint8_t>::NewOrCopy(
          env, reinterpret_cast<uint8_t*>(owned->data()), count * sizeof(Record),
          [](Napi::Env, uint8_t*, std::vector<Record>* v) { delete v; }, owned);
    }
    Napi::Object out = Napi::Object::New(env);
    out.Set("records", buf);
    out.Set("count", Napi::Number::New(env, double(count)));
    out.Set("interrupted", Napi::Boolean::New(env, result_.interrupted));
    out.Set("attempts", Napi::Number::New(env, result_.attempts));
    deferred_.Resolve(out);
  }

  // Execute never calls SetError, but keep the promise settled if the base class does.
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::FunctionReference on_chunk_;
  DumpOptions opts_;
  DumpResult result_;
  DumpError error_;
};

Napi::Value Reject(Napi::Env env, Napi::Error err) {
  auto d = Napi::Promise::Deferred::New(env);
  d.Reject(err.Value());
  return d.Promise();
}

// dump({ bytecode?: Buffer, tcpInfo?: boolean, bothFamilies?: boolean }) — argument errors
// reject too, so callers have one error path.
Napi::Value Dump(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  DumpOptions opts;
  if (info.Length() > 0 && !info[0].IsUndefined()) {
    if (!info[0].IsObject()) return Reject(env, Napi::TypeError::New(env, "dump(options): options must be an object"));
    Napi::Object o = info[0].As<Napi::Object>();
    Napi::Value ti = o.Get("tcpInfo");
    if (env.IsExceptionPending()) return env.Null();
    if (!ti.IsUndefined() && !ti.IsBoolean()) return Reject(env, Napi::TypeError::New(env, "dump(options): tcpInfo must be a boolean"));
    opts.tcp_info = ti.IsBoolean() && ti.As<Napi::Boolean>().Value();
    Napi::Value bf = o.Get("bothFamilies");
    if (env.IsExceptionPending()) return env.Null();
    if (!bf.IsUndefined() && !bf.IsBoolean()) return Reject(env, Napi::TypeError::New(env, "dump(options): bothFamilies must be a boolean"));
    opts.both_families = bf.IsBoolean() && bf.As<Napi::Boolean>().Value();
    Napi::Value bc = o.Get("bytecode");
    if (env.IsExceptionPending()) return env.Null();
    if (!bc.IsUndefined()) {
      if (!bc.IsBuffer()) return Reject(env, Napi::TypeError::New(env, "dump(options): bytecode must be a Buffer"));
      auto b = bc.As<Napi::Buffer<uint8_t>>();
      if (b.Length() == 0 || b.Length() > kMaxBytecode)
        return Reject(env, Napi::RangeError::New(env, "dump(options): bytecode must be 1..4096 bytes"));
      opts.bytecode.assign(b.Data(), b.Data() + b.Length());  // copied: JS may reuse the Buffer
    }
  }
  Napi::Value on_chunk = env.Undefined();
  if (info.Length() > 0 && info[0].IsObject()) {
    on_chunk = info[0].As<Napi::Object>().Get("onChunk");
    if (env.IsExceptionPending()) return env.Null();
    if (!on_chunk.IsUndefined() && !on_chunk.IsFunction()) return Reject(env, Napi::TypeError::New(env, "dump(options): onChunk must be a function"));
  }
  Napi::Function noop = Napi::Function::New(env, [](const Napi::CallbackInfo&) {});
  auto* w = new DumpWorker(env, std::move(opts), noop, on_chunk);
  Napi::Promise p = w->Promise();
  w->Queue();  // AsyncWorker deletes itself after OnOK/OnError
  return p;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
#ifdef M_ARENA_MAX
  // Dumps of 10+ MB are allocated on libuv pool threads and freed on the main thread. glibc
  // gives each thread its own arena and rarely returns their freed pages, so under churn the
  // process's RSS crept up ~20% in 30 s with a flat JS heap (test/api/churn.test.ts). Two
  // arenas keep RSS flat; the allocations are few and large, so contention does not matter.
  mallopt(M_ARENA_MAX, 2);
#endif
  exports.Set("dump", Napi::Function::New(env, Dump, "dump"));
  exports.Set("RECORD_SIZE", Napi::Number::New(env, double(sizeof(Record))));
  exports.Set("LAYOUT_VERSION", Napi::Number::New(env, tcpdir::kRecordLayoutVersion));
  tcpdir::InitNetns(env, exports);
  tcpdir::InitConntrack(env, exports);
  tcpdir::InitProcFd(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(tcpdir_sockdiag, Init)
