#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "relay-connection.h"

namespace relay {

namespace {

// Reads of one direction per wakeup, so that one bulk stream cannot hold
// the loop; epoll is level-triggered and reports the rest next time.
constexpr int kReadsPerPump = 8;
// Go's default, which the original proxy had: dead peers do not hold
// connections, or a drain, open for ever.
constexpr int kKeepAliveSeconds = 15;

// Errors with which splice(2) says it cannot join these two files (a
// socket type or kernel without it), as opposed to a failed connection.
bool SpliceRefused(int errnum) { return errnum == EINVAL || errnum == ENOSYS || errnum == EOPNOTSUPP; }

}  // namespace

std::string ErrnoName(int errnum) {
  const char* name = strerrorname_np(errnum);
  return name != nullptr ? name : "EUNKNOWN";
}

// TCP_NODELAY so small writes are not held back, keep-alive so a vanished
// peer is noticed. Failures are harmless (the socket works without them).
void TuneSocket(int fd) {
  const int on = 1;
  const int seconds = kKeepAliveSeconds;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &seconds, sizeof seconds);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &seconds, sizeof seconds);
}

// An RST rather than a FIN: neither peer may take a cut connection for a
// complete one. close() removes the socket from the epoll set.
void CloseSide(Side& side, bool reset) {
  if (side.fd < 0) return;
  if (reset) {
    const linger abort_on_close{1, 0};
    setsockopt(side.fd, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
  }
  close(side.fd);
  side.fd = -1;
  side.watched = false;
}

Direction::~Direction() { ClosePipe(*this); }

void ClosePipe(Direction& d) {
  if (d.pipe_read >= 0) close(d.pipe_read);
  if (d.pipe_write >= 0) close(d.pipe_write);
  d.pipe_read = d.pipe_write = -1;
  d.in_pipe = 0;
}

int PendingError(int fd) {
  int error = 0;
  socklen_t length = sizeof error;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) < 0) return errno;
  return error;
}

// Moves what it can one way. False when the connection has ended (an error
// on either socket), so the caller stops touching it.
bool RelayLoop::Pump(Connection* c, Direction& d) {
  if (!Flush(c, d)) return false;
  if (d.held() > 0) return true;
  for (int reads = 0; !d.eof && d.from->fd >= 0; reads++) {
    // A hung-up socket is out of the epoll set: read it to the end now.
    if (reads >= kReadsPerPump && !d.from->hung_up) break;
    const bool splicing = d.pipe_write >= 0;
    // The pipe is empty here, so EAGAIN can only mean an empty socket.
    const ssize_t n =
        splicing ? splice(d.from->fd, nullptr, d.pipe_write, nullptr, kBufferBytes,
                          SPLICE_F_MOVE | SPLICE_F_NONBLOCK)
                 : recv(d.from->fd, scratch_.get(), kBufferBytes, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (splicing && SpliceRefused(errno)) {
        StopSplicing(d);
        continue;
      }
      Fail(c, *d.from);
      return false;
    }
    if (n == 0) {
      d.eof = true;
      break;
    }
    Count(d.read_counter, n);
    if (splicing) {
      d.in_pipe = static_cast<size_t>(n);
      if (!SpliceOut(c, d)) return false;
    } else {
      if (!Send(c, d, scratch_.get(), static_cast<size_t>(n))) return false;
      if (static_cast<size_t>(n) >= kSpliceAfterBytes && !d.copy_only && d.held() == 0) {
        OpenPipe(d);
      }
    }
    if (d.held() > 0) break;
    // A short read emptied the socket; epoll says when there is more.
    if (static_cast<size_t>(n) < kBufferBytes && !d.from->hung_up) break;
  }
  if (d.eof && d.held() == 0 && !d.shut) {
    // Half-close: the FIN goes on once everything before it has. When the
    // other way has ended already, the close that follows sends it.
    const Direction& other = &d == &c->up ? c->down : c->up;
    if (!other.shut) shutdown(d.to->fd, SHUT_WR);
    d.shut = true;
  }
  return true;
}

bool RelayLoop::Flush(Connection* c, Direction& d) {
  if (d.pending_length > 0) {
    const size_t length = d.pending_length;
    d.pending_length = 0;
    return Send(c, d, d.pending.get() + d.pending_offset, length);
  }
  return d.in_pipe == 0 || SpliceOut(c, d);
}

// Writes what the receiver takes now and keeps the rest in `pending`.
// `data` is either the shared scratch buffer or the direction's own pending bytes.
bool RelayLoop::Send(Connection* c, Direction& d, const char* data, size_t length) {
  ssize_t sent;
  do {
    sent = send(d.to->fd, data, length, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      Fail(c, *d.to);
      return false;
    }
    sent = 0;
  }
  Count(d.written_counter, sent);
  const size_t rest = length - static_cast<size_t>(sent);
  if (rest == 0) {
    d.pending.reset();
    d.pending_offset = 0;
  } else if (data != scratch_.get()) {
    d.pending_offset += static_cast<size_t>(sent);
  } else {
    // Leaving the shared buffer: only now does the connection get memory.
    d.pending.reset(new char[rest]);
    std::memcpy(d.pending.get(), data + sent, rest);
    d.pending_offset = 0;
  }
  d.pending_length = rest;
  return true;
}

// Passes on what the pipe holds, as much as the receiver takes now; the
// rest stays in the pipe until epoll says the receiver has room.
bool RelayLoop::SpliceOut(Connection* c, Direction& d) {
  ssize_t sent;
  do {
    sent = splice(d.pipe_read, nullptr, d.to->fd, nullptr, d.in_pipe,
                  SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
    if (SpliceRefused(errno)) {
      StopSplicing(d);
      return Flush(c, d);
    }
    Fail(c, *d.to);
    return false;
  }
  Count(d.written_counter, sent);
  d.in_pipe -= static_cast<size_t>(sent);
  return true;
}

void RelayLoop::OpenPipe(Direction& d) {
  int ends[2];
  // Out of fds (EMFILE) or pipe memory: the direction goes on copying.
  if (pipe2(ends, O_NONBLOCK | O_CLOEXEC) < 0) return;
  // Room for one full read. Refused (pipe-max-size), the default 64 KiB
  // only makes splices shorter.
  fcntl(ends[1], F_SETPIPE_SZ, static_cast<int>(kBufferBytes));
  d.pipe_read = ends[0];
  d.pipe_write = ends[1];
}

void RelayLoop::StopSplicing(Direction& d) {
  d.copy_only = true;
  if (d.in_pipe > 0) {
    // At most one read's worth, which the copy path may hold as well.
    d.pending.reset(new char[d.in_pipe]);
    size_t got = 0;
    while (got < d.in_pipe) {
      const ssize_t n = read(d.pipe_read, d.pending.get() + got, d.in_pipe - got);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    d.pending_offset = 0;
    d.pending_length = got;
    d.in_pipe = 0;
  }
  ClosePipe(d);
}

// An error or RST on one socket: the other gets an RST too.
void RelayLoop::Fail(Connection* c, Side& failed) {
  Side& other = &failed == &c->client ? c->target : c->client;
  CloseSide(failed, true);
  CloseSide(other, true);
  Finish(c);
}

void RelayLoop::Finish(Connection* c) {
  if (c->state == Connection::State::kClosed) return;
  if (c->state == Connection::State::kRelaying) Count(kActiveOutbound, -1);
  Count(kActiveInbound, -1);
  c->state = Connection::State::kClosed;
  CloseSide(c->client, false);
  CloseSide(c->target, false);
  RemoveFromDialQueue(c);
  if (c->resolving != nullptr) {
    // The request frees itself in its callback, which now only cleans up.
    c->resolving->connection = nullptr;
    uv_cancel(reinterpret_cast<uv_req_t*>(&c->resolving->request));
    c->resolving = nullptr;
  }
  if (c->owns_addresses) uv_freeaddrinfo(c->addresses);
  c->addresses = c->next_address = nullptr;
  c->up.pending.reset();
  c->down.pending.reset();
  ClosePipe(c->up);
  ClosePipe(c->down);
  connections_.erase(c);
  // Freed after the batch: later events of this batch may still point at it.
  finished_.push_back(c);
  // The last one: the JS thread looks whether every loop is idle.
  // Release: whoever sees the count drop sees this connection's notices too.
  if (open_.fetch_sub(1, std::memory_order_release) == 1) reports_.Wake();
}

void RelayLoop::UpdateInterest(Connection* c, Side& side) {
  if (side.fd < 0 || side.hung_up) return;
  const bool is_client = &side == &c->client;
  const Direction& out = is_client ? c->up : c->down;
  const Direction& in = is_client ? c->down : c->up;
  uint32_t events = 0;
  if (!out.eof && out.held() == 0) events |= EPOLLIN;
  if (in.held() > 0) events |= EPOLLOUT;
  if (events != side.events || !side.watched) Watch(side, events);
}

void RelayLoop::Watch(Side& side, uint32_t events) {
  epoll_event event{};
  event.events = events;
  event.data.ptr = &side;
  if (epoll_ctl(epoll_fd_, side.watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, side.fd, &event) == 0) {
    side.events = events;
    side.watched = true;
  }
}

void RelayLoop::Count(int counter, int64_t amount) {
  // Connection counts are always kept: the gauges and drain depend on them.
  if (counter >= kClientReceived && !target_.count_bytes) return;
  // This loop is the only writer: no read-modify-write needed.
  std::atomic<uint64_t>& value = counters_[counter];
  value.store(value.load(std::memory_order_relaxed) + static_cast<uint64_t>(amount),
              std::memory_order_relaxed);
}

}  // namespace relay
