// A BPF ring buffer (BPF_MAP_TYPE_RINGBUF) read through its mmap'd pages, as libbpf's
// ring_buffer__consume does, without libbpf. Layout (kernel/bpf/ringbuf.c): page 0 holds the
// consumer position (ours to write); from page 1, the producer position's page and then the data
// area, mapped twice in a row so a record that wraps reads as one piece. Each record starts with
// an 8-byte header {u32 len (bit 31 busy, bit 30 discard), u32 pg_off}, padded to 8 bytes.
#ifndef TCPDIR_RINGBUF_H
#define TCPDIR_RINGBUF_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <unistd.h>

class RingBuf {
 public:
  // Returns 0 or -errno. max_entries: the map's data size (a power of two).
  int Open(int map_fd, uint32_t max_entries) {
    page_ = size_t(sysconf(_SC_PAGESIZE));
    mask_ = uint64_t(max_entries) - 1;
    void* c = mmap(nullptr, page_, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd, 0);
    if (c == MAP_FAILED) return -errno;
    consumer_ = static_cast<uint64_t*>(c);
    prod_len_ = page_ + 2 * size_t(max_entries);
    void* p = mmap(nullptr, prod_len_, PROT_READ, MAP_SHARED, map_fd, off_t(page_));
    if (p == MAP_FAILED) return -errno;
    producer_ = static_cast<uint64_t*>(p);
    data_ = static_cast<uint8_t*>(p) + page_;
    epfd_ = epoll_create1(EPOLL_CLOEXEC);
    if (epfd_ < 0) return -errno;
    epoll_event ev{};
    ev.events = EPOLLIN;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, map_fd, &ev) != 0) return -errno;
    return 0;
  }
  ~RingBuf() {
    if (epfd_ >= 0) close(epfd_);
    if (producer_) munmap(producer_, prod_len_);
    if (consumer_) munmap(consumer_, page_);
  }
  // Readable when the BPF side forces a wakeup (the programs do so past a size threshold).
  int EpollFd() const { return epfd_; }

  // Hands every committed record to fn(data, len), oldest first, and frees its space.
  template <typename Fn>
  void Consume(Fn&& fn) {
    uint64_t cons = __atomic_load_n(consumer_, __ATOMIC_ACQUIRE);
    for (;;) {
      bool got = false;
      uint64_t prod = __atomic_load_n(producer_, __ATOMIC_ACQUIRE);
      while (cons < prod) {
        auto* hdr = reinterpret_cast<uint32_t*>(data_ + (cons & mask_));
        uint32_t len = __atomic_load_n(hdr, __ATOMIC_ACQUIRE);
        if (len & kBusy) return;  // reserved, not yet committed: later records wait for it
        got = true;
        uint32_t size = len & ~(kBusy | kDiscard);
        cons += (uint64_t(size) + kHdr + 7) & ~uint64_t(7);
        if (!(len & kDiscard)) fn(reinterpret_cast<uint8_t*>(hdr) + kHdr, size_t(size));
        __atomic_store_n(consumer_, cons, __ATOMIC_RELEASE);
      }
      if (!got) return;
    }
  }

 private:
  static constexpr uint32_t kBusy = 1u << 31, kDiscard = 1u << 30, kHdr = 8;
  size_t page_ = 0, prod_len_ = 0;
  uint64_t mask_ = 0;
  uint64_t* consumer_ = nullptr;
  uint64_t* producer_ = nullptr;
  uint8_t* data_ = nullptr;
  int epfd_ = -1;
};

#endif
