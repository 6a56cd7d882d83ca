// socketFds(dir, pos, max): the socket inodes in one /proc/PID/fd directory, read in C.
//
// `ss -p` and tcpdir's process attribution read every link of every process's fd table; from
// JavaScript each readlink built a path and a string (and threw for a closed fd), which cost
// more than the system call. Here each link is read relative to the open directory and only
// "socket:[N]" targets come back, as [fd, inode] pairs.
//
// A table is read in batches of at most `max` entries, resumed at `pos` (the directory offset the
// last batch stopped at), each on a libuv pool thread: the event loop never waits on a process
// with 100k fds, and a one-shot `list` builds its snapshot meanwhile.
// Resolves to { sockets: Float64Array [fd, inode, ...], read: links read, next: offset or -1 at the
// end }; rejects with an Error with `code` (ENOENT, EACCES, ...) when the directory cannot be opened.
#include <napi.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace tcpdir {

namespace {

/** "socket:[12345]" -> 12345; anything else -> 0. */
double SocketInode(const char* t, ssize_t n) {
  static const char kPrefix[] = "socket:[";
  const ssize_t p = sizeof(kPrefix) - 1;
  if (n <= p + 1 || memcmp(t, kPrefix, p) != 0 || t[n - 1] != ']') return 0;
  double v = 0;
  for (ssize_t i = p; i < n - 1; i++) {
    if (t[i] < '0' || t[i] > '9') return 0;
    v = v * 10 + (t[i] - '0');
  }
  return v;
}

const char* ErrnoName(int err) {
  switch (err) {
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    case ESRCH: return "ESRCH";
    default: return "EIO";
  }
}

/** One batch, read on a libuv pool thread: the caller's thread goes on meanwhile. */
class SocketFdsWorker : public Napi::AsyncWorker {
 public:
  SocketFdsWorker(Napi::Env env, std::string path, long pos, long max)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)), pos_(pos), max_(max) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  void Execute() override {
    DIR* dir = opendir(path_.c_str());
    if (dir == nullptr) {
      err_ = errno;
      return;
    }
    if (pos_ > 0) seekdir(dir, pos_);
    const int dfd = dirfd(dir);
    char target[64];
    for (;;) {
      const long here = telldir(dir);  // where the entry about to be read starts
      struct dirent* d = readdir(dir);
      if (d == nullptr) break;
      if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
      if (read_ >= max_) {
        next_ = here;  // the next batch starts with this entry
        break;
      }
      const ssize_t n = readlinkat(dfd, d->d_name, target, sizeof(target));
      if (n < 0) continue;  // closed since readdir
      read_++;
      const double ino = SocketInode(target, n);
      if (ino != 0) {
        out_.push_back(strtod(d->d_name, nullptr));
        out_.push_back(ino);
      }
    }
    closedir(dir);
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (err_ != 0) {
      Napi::Error e = Napi::Error::New(env, std::string(strerror(err_)) + ", opendir '" + path_ + "'");
      e.Set("code", Napi::String::New(env, ErrnoName(err_)));
      e.Set("errno", Napi::Number::New(env, -err_));
      deferred_.Reject(e.Value());
      return;
    }
    Napi::Float64Array sockets = Napi::Float64Array::New(env, out_.size());
    if (!out_.empty()) memcpy(sockets.Data(), out_.data(), out_.size() * sizeof(double));
    Napi::Object r = Napi::Object::New(env);
    r.Set("sockets", sockets);
    r.Set("read", Napi::Number::New(env, double(read_)));
    r.Set("next", Napi::Number::New(env, double(next_)));
    deferred_.Resolve(r);
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  long pos_;
  long max_;
  int err_ = 0;
  long read_ = 0;
  long next_ = -1;
  std::vector<double> out_;
};

Napi::Value SocketFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber()) {
    Napi::TypeError::New(env, "socketFds(dir: string, pos: number, max: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* w = new SocketFdsWorker(env, info[0].As<Napi::String>().Utf8Value(), static_cast<long>(info[1].As<Napi::Number>().Int64Value()),
                                static_cast<long>(info[2].As<Napi::Number>().Int64Value()));
  Napi::Promise p = w->Promise();
  w->Queue();  // AsyncWorker deletes itself after OnOK
  return p;
}

}  // namespace

void InitProcFd(Napi::Env env, Napi::Object exports) {
  exports.Set("socketFds", Napi::Function::New(env, SocketFds, "socketFds"));
}

}  // namespace tcpdir
