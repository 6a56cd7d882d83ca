/* The BPF side of tcpdir_kernel in plain C: loads the committed light skeleton
 * (gen/tcpdir.lskel.h) and wraps the few bpf(2) commands the addon needs. No libbpf: the kernel's
 * own loader program creates the maps, applies CO-RE relocations and loads the programs. */
#ifndef TCPDIR_LOADER_H
#define TCPDIR_LOADER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct tcpdir_loaded {
  void* skel;          /* struct tcpdir_bpf* */
  int iter_link_fd;    /* -1 until attached */
  int state_link_fd;   /* -1 unless attached */
  int events_map_fd;   /* BPF_MAP_TYPE_RINGBUF */
  int drops_map_fd;    /* ARRAY[1] of u64 */
  int changes_map_fd;  /* ARRAY[NETNS_SLOTS] of u64: changes per netns slot */
  int synack_link_fd;  /* tp_btf/tcp_retransmit_synack; -1 unless attached */
  int owners_link_fd;  /* iter/task_file; -1 unless attached */
};

/* Oldest kernel the light skeleton loads on: its loader asks the kernel to apply CO-RE
 * relocations (BPF_PROG_LOAD's core_relos, Linux 5.17). */
#define TCPDIR_MIN_KERNEL_MAJOR 5
#define TCPDIR_MIN_KERNEL_MINOR 17

/* Loads both programs. Returns 0, or -errno with a short account in `err` and, when the kernel
 * gave one, the verifier's log in `log`. */
int tcpdir_loader_load(struct tcpdir_loaded* out, uint64_t wakeup_bytes, int births_only,
                       char* err, size_t errlen, char* log, size_t loglen);
/* Each returns 0 or -errno. */
int tcpdir_loader_attach_iter(struct tcpdir_loaded* l);
int tcpdir_loader_attach_state(struct tcpdir_loaded* l);
/* The SYN-ACK retransmission tracepoint, which with the state tracepoint (attached first) keeps
 * netns_changes. */
int tcpdir_loader_attach_changes(struct tcpdir_loaded* l);
/* The iter/task_file program: TCP socket descriptors of every process. */
int tcpdir_loader_attach_owners(struct tcpdir_loaded* l);
void tcpdir_loader_destroy(struct tcpdir_loaded* l);

/* bpf(2) commands: each returns >= 0 or -errno. */
int tcpdir_iter_create(int link_fd);
int tcpdir_map_lookup(int map_fd, const void* key, void* value);
int tcpdir_map_max_entries(int map_fd, uint32_t* max_entries);

/* 1 when the running kernel (uname) is older than TCPDIR_MIN_KERNEL_*, 0 if not or unknown. */
int tcpdir_kernel_too_old(char* release, size_t len);

#ifdef __cplusplus
}
#endif

#endif
