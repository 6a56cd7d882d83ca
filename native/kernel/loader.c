/* See loader.h. C, not C++: the generated skeleton relies on C's implicit void* conversions. */
#include "loader.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>

#include "gen/tcpdir.lskel.h"

static int load_once(struct tcpdir_bpf** out, uint64_t wakeup_bytes, int births_only, const char** stage,
                     char* log, size_t loglen) {
  struct tcpdir_bpf* skel = tcpdir_bpf__open();
  if (!skel) {
    *stage = "allocating the skeleton";
    return -ENOMEM;
  }
  skel->rodata->wakeup_bytes = wakeup_bytes;
  skel->rodata->births_only = (__u8)(births_only ? 1 : 0);
  if (log && loglen) {
    /* The loader passes these on to every program it loads: the verifier's log on failure. */
    log[0] = '\0';
    skel->ctx.log_level = 1;
    skel->ctx.log_size = (__u32)loglen;
    skel->ctx.log_buf = (__u64)(unsigned long)log;
  }
  int err = tcpdir_bpf__load(skel);
  if (err) {
    *stage = "loading the programs";
    tcpdir_bpf__destroy(skel);
    return err < 0 ? err : -err;
  }
  *out = skel;
  return 0;
}

int tcpdir_loader_load(struct tcpdir_loaded* out, uint64_t wakeup_bytes, int births_only,
                       char* err, size_t errlen, char* log, size_t loglen) {
  struct tcpdir_bpf* skel = NULL;
  const char* stage = "";
  memset(out, 0, sizeof *out);
  out->iter_link_fd = out->state_link_fd = out->events_map_fd = out->drops_map_fd = -1;
  out->changes_map_fd = out->synack_link_fd = out->owners_link_fd = -1;
  /* The verifier gives up with EAGAIN when a signal is pending for the loading thread (a
   * profiler's SIGPROF every millisecond made every load fail): block signals while loading, and
   * retry EAGAIN as libbpf does. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  int rc = -EAGAIN;
  for (int attempt = 0; attempt < 5 && rc == -EAGAIN; attempt++) rc = load_once(&skel, wakeup_bytes, births_only, &stage, NULL, 0);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc && rc != -EPERM && log && loglen) {
    /* Once more with the verifier's log on, only to explain the failure. */
    int rc2 = load_once(&skel, wakeup_bytes, births_only, &stage, log, loglen);
    if (rc2 == 0) rc = 0;
  }
  if (rc) {
    snprintf(err, errlen, "%s: %s", stage, strerror(-rc));
    return rc;
  }
  out->skel = skel;
  out->events_map_fd = skel->maps.events.map_fd;
  out->drops_map_fd = skel->maps.drops.map_fd;
  out->changes_map_fd = skel->maps.netns_changes.map_fd;
  return 0;
}

int tcpdir_loader_attach_iter(struct tcpdir_loaded* l) {
  int fd = tcpdir_bpf__tcpdir_iter__attach((struct tcpdir_bpf*)l->skel);
  if (fd < 0) return -errno;
  l->iter_link_fd = fd;
  return 0;
}

int tcpdir_loader_attach_state(struct tcpdir_loaded* l) {
  int fd = tcpdir_bpf__tcpdir_state__attach((struct tcpdir_bpf*)l->skel);
  if (fd < 0) return -errno;
  l->state_link_fd = fd;
  return 0;
}

int tcpdir_loader_attach_changes(struct tcpdir_loaded* l) {
  int fd = tcpdir_bpf__tcpdir_synack_again__attach((struct tcpdir_bpf*)l->skel);
  if (fd < 0) return -errno;
  l->synack_link_fd = fd;
  return 0;
}

int tcpdir_loader_attach_owners(struct tcpdir_loaded* l) {
  int fd = tcpdir_bpf__tcpdir_owners__attach((struct tcpdir_bpf*)l->skel);
  if (fd < 0) return -errno;
  l->owners_link_fd = fd;
  return 0;
}

void tcpdir_loader_destroy(struct tcpdir_loaded* l) {
  if (l->skel) tcpdir_bpf__destroy((struct tcpdir_bpf*)l->skel); /* closes links, programs, maps */
  l->skel = NULL;
  l->iter_link_fd = l->state_link_fd = l->events_map_fd = l->drops_map_fd = -1;
  l->changes_map_fd = l->synack_link_fd = l->owners_link_fd = -1;
}

int tcpdir_iter_create(int link_fd) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.iter_create.link_fd = (__u32)link_fd;
  int fd = skel_sys_bpf(BPF_ITER_CREATE, &attr, sizeof attr);
  return fd < 0 ? -errno : fd;
}

int tcpdir_map_lookup(int map_fd, const void* key, void* value) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.map_fd = (__u32)map_fd;
  attr.key = (__u64)(unsigned long)key;
  attr.value = (__u64)(unsigned long)value;
  return skel_sys_bpf(BPF_MAP_LOOKUP_ELEM, &attr, sizeof attr) < 0 ? -errno : 0;
}

int tcpdir_map_max_entries(int map_fd, uint32_t* max_entries) {
  struct bpf_map_info info;
  union bpf_attr attr;
  memset(&info, 0, sizeof info);
  memset(&attr, 0, sizeof attr);
  attr.info.bpf_fd = (__u32)map_fd;
  attr.info.info_len = sizeof info;
  attr.info.info = (__u64)(unsigned long)&info;
  if (skel_sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &attr, sizeof attr) < 0) return -errno;
  *max_entries = info.max_entries;
  return 0;
}

int tcpdir_kernel_too_old(char* release, size_t len) {
  struct utsname u;
  int major = 0, minor = 0;
  if (uname(&u) != 0) return 0;
  if (release && len) snprintf(release, len, "%s", u.release);
  if (sscanf(u.release, "%d.%d", &major, &minor) != 2) return 0;
  return major < TCPDIR_MIN_KERNEL_MAJOR ||
         (major == TCPDIR_MIN_KERNEL_MAJOR && minor < TCPDIR_MIN_KERNEL_MINOR);
}
