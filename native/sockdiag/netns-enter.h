// Entering another network namespace on the calling thread for a few calls, and going back: a
// netlink socket answers for the namespace it was created in, and /proc/sys/net shows the
// namespace of the thread that reads it. Shared by netns.cc (sock_diag) and conntrack.cc.
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <napi.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

namespace tcpdir {

// Why a namespace could not be entered. vanished: it is gone (ENOENT/ESRCH, or the path now
// names another namespace: its process died and the pid was reused), which callers skip.
struct NetnsFailure {
  int err = 0;  // positive errno; 0 = entered
  std::string call;
  bool vanished = false;
};

// Runs `inside()` on this thread in the namespace `path` names (checked against `inode` when it
// is not 0), then goes back to `home` (this thread's own netns fd). If going back fails the
// process aborts: a thread stuck in a foreign netns must not live on.
template <typename F>
NetnsFailure InNetns(int home, const std::string& path, uint64_t inode, F inside) {
  int ns = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (ns < 0) {
    int e = errno;
    return {e, "open " + path, e == ENOENT || e == ESRCH};
  }
  struct stat st;
  if (fstat(ns, &st) != 0) {
    int e = errno;
    close(ns);
    return {e, "fstat " + path, false};
  }
  if (inode != 0 && uint64_t(st.st_ino) != inode) {
    close(ns);
    return {ESRCH, path + " now names another namespace", true};
  }
  if (setns(ns, CLONE_NEWNET) != 0) {
    int e = errno;
    close(ns);
    return {e, "setns " + path + " (needs CAP_SYS_ADMIN)", false};
  }
  inside();
  if (setns(home, CLONE_NEWNET) != 0) abort();
  close(ns);
  return {};
}

// A promise already rejected with a TypeError: how the addon's async functions refuse bad arguments.
inline Napi::Value RejectedPromise(Napi::Env env, const char* msg) {
  auto d = Napi::Promise::Deferred::New(env);
  d.Reject(Napi::TypeError::New(env, msg).Value());
  return d.Promise();
}

}  // namespace tcpdir
