// One fixed-size record per TCP socket, as produced by DumpTcp() and decoded by
// src/collectors/sockdiag.ts (keep the two in sync; bump kRecordLayoutVersion on any change).
//
// All multi-byte integers are little-endian (host order; the static_assert below refuses
// big-endian builds so the TS side can read LE unconditionally). Addresses stay in network
// order, exactly as the kernel sent them.
//
//  off size field
//    0  u8  family          2 = AF_INET, 10 = AF_INET6
//    1  u8  state           kernel TCP state (1 ESTABLISHED .. 12 NEW_SYN_RECV)
//    2  u8  timer           0 none, 1 retransmit, 2 keepalive, 3 TIME_WAIT, 4 zero-window probe
//    3  u8  retrans
//    4  u8  v6only          INET_DIAG_SKV6ONLY: 0, 1, or 255 when the kernel did not send it
//    5  u8  flags           which tcp_info fields are valid (kInfo* below)
//    6  u16 sport           host order
//    8  u16 dport           host order
//   10  u16 (zero)
//   12  u8[16] src          network order; IPv4 uses the first 4 bytes, the rest is zero
//   28  u8[16] dst          network order; same
//   44  u32 inode           0 for TIME_WAIT, request sockets, children not yet accepted
//   48  u32 uid
//   52  u32 expires         ms until the timer fires
//   56  u32 rqueue          LISTEN: accept-queue length; otherwise unread bytes
//   60  u32 wqueue          LISTEN: backlog; otherwise unacknowledged bytes
//   64  u64 cookie          kernel socket cookie (idiag_cookie[0] | idiag_cookie[1] << 32)
//   72  u32 rtt             tcp_info rtt, µs            (flags & kInfoBase)
//   76  u32 rttvar          tcp_info rttvar, µs         (flags & kInfoBase)
//   80  u64 bytes_acked     (flags & kInfoBytes)
//   88  u64 bytes_received  (flags & kInfoBytes)
//   96  u32 segs_out        (flags & kInfoSegs)
//  100  u32 segs_in         (flags & kInfoSegs)
//  104  u64 bytes_sent      tcpi_bytes_sent, data bytes put on the wire, retransmits included (flags & kInfoSent)
//  112  u64 bytes_retrans   tcpi_bytes_retrans (flags & kInfoSent)
//  120  u32 unacked         tcpi_unacked, segments in flight (flags & kInfoBase)
//  124  u32 notsent_bytes   tcpi_notsent_bytes (flags & kInfoNotsent)
//  128  -- end
#pragma once

#include <cstddef>
#include <cstdint>

namespace tcpdir {

constexpr uint32_t kRecordLayoutVersion = 2;

constexpr uint8_t kInfoBase = 0x01;   // INET_DIAG_INFO present with rtt/rttvar
constexpr uint8_t kInfoBytes = 0x02;  // bytes_acked/bytes_received present (kernel >= 4.1)
constexpr uint8_t kInfoSegs = 0x04;   // segs_out/segs_in present (kernel >= 4.2)
constexpr uint8_t kInfoNotsent = 0x08;  // notsent_bytes present (kernel >= 4.6)
constexpr uint8_t kInfoSent = 0x10;     // bytes_sent/bytes_retrans present (kernel >= 4.19)
constexpr uint8_t kV6OnlyAbsent = 255;

struct Record {
  uint8_t family;
  uint8_t state;
  uint8_t timer;
  uint8_t retrans;
  uint8_t v6only;
  uint8_t flags;
  uint16_t sport;
  uint16_t dport;
  uint16_t zero;
  uint8_t src[16];
  uint8_t dst[16];
  uint32_t inode;
  uint32_t uid;
  uint32_t expires;
  uint32_t rqueue;
  uint32_t wqueue;
  uint64_t cookie;
  uint32_t rtt;
  uint32_t rttvar;
  uint64_t bytes_acked;
  uint64_t bytes_received;
  uint32_t segs_out;
  uint32_t segs_in;
  uint64_t bytes_sent;
  uint64_t bytes_retrans;
  uint32_t unacked;
  uint32_t notsent_bytes;
};

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "record layout assumes little-endian");
static_assert(sizeof(Record) == 128, "record size changed: update sockdiag.ts");
static_assert(offsetof(Record, sport) == 6 && offsetof(Record, src) == 12 &&
                  offsetof(Record, dst) == 28 && offsetof(Record, inode) == 44 &&
                  offsetof(Record, cookie) == 64 && offsetof(Record, rtt) == 72 &&
                  offsetof(Record, bytes_acked) == 80 && offsetof(Record, segs_out) == 96 &&
                  offsetof(Record, bytes_sent) == 104 && offsetof(Record, unacked) == 120,
              "record offsets changed: update sockdiag.ts");

}  // namespace tcpdir
