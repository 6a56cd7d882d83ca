// NETLINK_SOCK_DIAG dump of every TCP socket (IPv4 + IPv6, all states) into packed Records.
// Plain C++ with no Node dependency, so it runs on a libuv pool thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "record.h"

namespace tcpdir {

struct DumpOptions {
  // Optional INET_DIAG_REQ_BYTECODE program (sent as-is; the kernel validates it).
  std::vector<uint8_t> bytecode;
  // A NETLINK_SOCK_DIAG socket to dump through instead of creating one (not closed here). A
  // diag socket answers for the netns it was created in, so this is how other namespaces are read.
  int fd = -1;
  // One legacy TCPDIAG_GETSOCK request instead of one SOCK_DIAG_BY_FAMILY request per family:
  // the kernel answers it for AF_INET and AF_INET6 in one pass (sdiag_family = AF_UNSPEC). Every
  // dump walks the host-wide TCP hash (all namespaces' sockets), so with many namespaces one walk
  // instead of two halves the cost. Same inet_diag_msg records and attributes.
  bool both_families = false;
  // Ask for INET_DIAG_INFO (struct tcp_info, 280 B per socket on 6.18). Off by default, as in
  // `ss -tan`: the kernel takes each socket's lock to fill it, and it triples the bytes copied.
  bool tcp_info = false;
  // When set, records are handed over in batches of about batch_records as the dump goes (and
  // removed from DumpResult::records), so the caller can decode while the kernel walks. A
  // streamed dump is never retried on NLM_F_DUMP_INTR (batches already left): it reports
  // interrupted instead, and duplicates are still dropped by cookie.
  std::function<void(const Record*, size_t)> on_batch;
  size_t batch_records = 5000;
};

struct DumpResult {
  std::vector<Record> records;  // de-duplicated by cookie
  bool interrupted = false;     // NLM_F_DUMP_INTR seen on the final attempt
  int attempts = 0;             // 2 when the first attempt was interrupted and retried
};

struct DumpError {
  int err = 0;               // positive errno; 0 = success
  const char* call = "";     // "socket", "sendmsg", "recvmsg" or "sock_diag" (kernel reply)
  int family = 0;            // AF_INET / AF_INET6 being dumped, 0 before any request
};

// Returns err == 0 on success. Never throws; the fd is always closed.
DumpError DumpTcp(const DumpOptions& opts, DumpResult* out);

}  // namespace tcpdir
