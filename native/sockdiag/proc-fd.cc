// socketFds(dir, pos, max): the socket inodes in one /proc/PID/fd directory, read in C.
//
// `ss -p` and tcpdir's process attribution read every link of every process's fd table; from
// JavaScript each readlink built a path and a string (and threw for a closed fd), which cost
// more than the system call. Here each link is read relative to the open directory and only
// "socket:[N]" targets come back, as [fd, inode] pairs.
//
// A table is read in batches of at most `max` entries, resumed at `pos` (the directory offset the
// last batch stopped at), so the caller can yield between batches on a process with 100k fds.
// Returns { sockets: Float64Array [fd, inode, ...], read: links read, next: offset or -1 at the end };
// throws an Error with `code` (ENOENT, EACCES, ...) when the directory cannot be opened.
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

Napi::Value SocketFds(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsNumber() || !info[2].IsNumber()) {
    Napi::TypeError::New(env, "socketFds(dir: string, pos: number, max: number)").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  const long pos = static_cast<long>(info[1].As<Napi::Number>().Int64Value());
  const long max = static_cast<long>(info[2].As<Napi::Number>().Int64Value());
  DIR* dir = opendir(path.c_str());
  if (dir == nullptr) {
    const int err = errno;
    Napi::Error e = Napi::Error::New(env, std::string(strerror(err)) + ", opendir '" + path + "'");
    const char* name = err == ENOENT ? "ENOENT" : err == EACCES ? "EACCES" : err == EPERM ? "EPERM" : err == ESRCH ? "ESRCH" : "EIO";
    e.Set("code", Napi::String::New(env, name));
    e.Set("errno", Napi::Number::New(env, -err));
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  if (pos > 0) seekdir(dir, pos);
  const int dfd = dirfd(dir);
  std::vector<double> out;
  long read = 0;
  long next = -1;
  char target[64];
  for (;;) {
    const long here = telldir(dir);  // where the entry about to be read starts
    struct dirent* d = readdir(dir);
    if (d == nullptr) break;
    if (d->d_name[0] < '0' || d->d_name[0] > '9') continue;
    if (read >= max) {
      next = here;  // the next batch starts with this entry
      break;
    }
    const ssize_t n = readlinkat(dfd, d->d_name, target, sizeof(target));
    if (n < 0) continue;  // closed since readdir
    read++;
    const double ino = SocketInode(target, n);
    if (ino != 0) {
      out.push_back(strtod(d->d_name, nullptr));
      out.push_back(ino);
    }
  }
  closedir(dir);
  Napi::Float64Array sockets = Napi::Float64Array::New(env, out.size());
  if (!out.empty()) memcpy(sockets.Data(), out.data(), out.size() * sizeof(double));
  Napi::Object r = Napi::Object::New(env);
  r.Set("sockets", sockets);
  r.Set("read", Napi::Number::New(env, double(read)));
  r.Set("next", Napi::Number::New(env, double(next)));
  return r;
}

}  // namespace

void InitProcFd(Napi::Env env, Napi::Object exports) {
  exports.Set("socketFds", Napi::Function::New(env, SocketFds, "socketFds"));
}

}  // namespace tcpdir
