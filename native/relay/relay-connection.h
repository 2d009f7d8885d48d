#pragma once
// What a relay loop keeps per connection, shared by its files:
// relay-loop.cc (the thread, its loop, handing over), relay-dial.cc
// (reaching the target) and relay-connection.cc (moving the bytes).

#include <netdb.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>

#include "relay-loop.h"

namespace relay {

// One socket of a connection, or the listening socket (connection null).
struct Side {
  int fd = -1;
  uint32_t events = 0;   // what epoll is asked to report now
  bool watched = false;  // in the epoll set
  // EPOLLHUP seen: both ways are shut on this socket, which epoll would
  // then report on every wait. It leaves the set; what is left to read is
  // read without waiting, since a read can no longer block.
  bool hung_up = false;
  Connection* connection = nullptr;
};

// Bytes one way: from `from` to `to`. A direction starts by copying
// through the relay's scratch buffer; once one read brings a stream's worth
// (kSpliceAfterBytes), it gets a pipe and moves bytes with splice(2), which
// never brings them into user space. Bytes the receiver did not take at once
// wait (in `pending` when copied, in the pipe when spliced), and `from` is
// not read meanwhile: that is the back-pressure, and the bound on memory
// (one read, at most kBufferBytes, per direction).
struct Direction {
  Direction(Side* source, Side* sink, int read, int written)
      : from(source), to(sink), read_counter(read), written_counter(written) {}
  Side* from;
  Side* to;
  int read_counter;
  int written_counter;
  std::unique_ptr<char[]> pending;
  size_t pending_offset = 0;
  size_t pending_length = 0;
  int pipe_read = -1;  // the splice pipe's ends, -1 while copying
  int pipe_write = -1;
  size_t in_pipe = 0;         // bytes spliced in and not yet out
  bool copy_only = false;     // splice was refused (EINVAL...): copy from now on
  bool eof = false;   // FIN read from `from`
  bool shut = false;  // FIN passed on to `to`

  size_t held() const { return pending_length + in_pipe; }
  // Connections are freed on every path (Finish, Shutdown) by delete.
  ~Direction();
};

struct ResolveRequest {
  uv_getaddrinfo_t request;
  RelayLoop* loop;
  Connection* connection;  // null once the connection no longer waits for it
};

struct Connection {
  enum class State { kResolving, kConnecting, kRelaying, kClosed };
  Side client;
  Side target;
  Direction up{&client, &target, kClientReceived, kTargetSent};
  Direction down{&target, &client, kTargetReceived, kClientSent};
  State state = State::kResolving;
  // Dials are queued in the order they started; with one timeout for all,
  // that is also the order of their deadlines, so one timer serves them.
  uint64_t dial_deadline = 0;
  Connection* dial_previous = nullptr;
  Connection* dial_next = nullptr;
  bool dialing = false;
  addrinfo* addresses = nullptr;  // owned when resolved, borrowed for a literal
  bool owns_addresses = false;
  addrinfo* next_address = nullptr;
  ResolveRequest* resolving = nullptr;
};

// Node's name of an errno value ("ECONNREFUSED").
std::string ErrnoName(int errnum);
// TCP_NODELAY and keep-alive, as the original Go proxy had them.
void TuneSocket(int fd);
// Closes one socket, with an RST when `reset`.
void CloseSide(Side& side, bool reset);
// Closes a direction's pipe (and drops what is in it).
void ClosePipe(Direction& d);
// The error a socket reports (SO_ERROR), taking it.
int PendingError(int fd);

}  // namespace relay
