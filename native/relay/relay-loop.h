#pragma once
// One relay thread: a libuv loop of its own, watching an epoll set of the
// listening socket and its connections' sockets, accepting, dialing
// targets and moving bytes. Every loop of a TcpRelay (relay.h) watches the
// one listening socket and accepts from it; a loop with clearly more open
// connections than another hands what it accepted to that one. Counts,
// failures and idleness go to the JS thread through the members below,
// which are the only ones other threads touch.

#include <netdb.h>
#include <uv.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

namespace relay {

struct Connection;
struct Direction;
struct Side;

enum Counter {
  kAccepted,
  kDialed,
  kActiveInbound,
  kActiveOutbound,
  kClientReceived,
  kTargetSent,
  kTargetReceived,
  kClientSent,
  kCounterCount
};
extern const char* const kCounterNames[kCounterCount];

// One read's worth: a loop's scratch buffer, the most one splice moves into
// a pipe, and so the most a direction ever holds when its receiver is slow,
// copied or spliced.
constexpr size_t kBufferBytes = 128 * 1024;
// A read at least this large says the direction carries a stream, which
// then pays for a pipe of its own; request-sized exchanges stay copied and
// cost no pipe (two fds, four system calls) per connection.
constexpr size_t kSpliceAfterBytes = 16 * 1024;

// Where connections go, the same for every loop; fixed before they start.
struct Target {
  std::string host;
  std::string service;
  // An IP-literal target is parsed once; a name is resolved at each dial.
  std::unique_ptr<addrinfo> literal;
  std::unique_ptr<char[]> literal_address;
  uint64_t dial_timeout_ms = 0;
  bool count_bytes = true;
};

// A failure for the JS thread to classify, count and log.
struct Notice {
  enum Kind { kDialFailure, kAcceptError } kind;
  std::string code;
  std::string message;
};

// What the loops tell the JS thread: notices, and "look whether all are
// idle". Each wakes the JS thread's uv_async.
class Reports {
 public:
  explicit Reports(uv_async_t* wake) : wake_(wake) {}
  void Add(Notice notice);
  void Wake() { uv_async_send(wake_); }
  std::vector<Notice> Take();

 private:
  std::mutex mutex_;
  std::vector<Notice> notices_;
  uv_async_t* wake_;
};

class RelayLoop {
 public:
  RelayLoop(const Target& target, Reports& reports);
  ~RelayLoop();
  RelayLoop(const RelayLoop&) = delete;
  RelayLoop& operator=(const RelayLoop&) = delete;

  // Starts the thread, called `name` (at most 15 characters); 0, or the
  // errno of what failed.
  int Start(std::string name);
  // The loops it may hand connections to (itself among them), fixed before
  // any is accepted.
  void SetPeers(const std::vector<std::unique_ptr<RelayLoop>>* peers) { peers_ = peers; }
  // From the JS thread: watch and accept from the listening socket `fd`,
  // or (-1) stop; returns once the loop has done so. The caller closes it.
  void Listen(int fd);
  // Another loop hands over a socket it accepted; this loop owns it now.
  void Hand(int fd);
  // Resets every connection (RST both ways); returns once done.
  void ResetAll();
  // Resets what is open, ends the thread and waits for it.
  void Stop();
  // Connections handed over and not yet finished.
  int64_t open() const { return open_.load(std::memory_order_acquire); }
  double count(int counter) const {
    return static_cast<double>(counters_[counter].load(std::memory_order_relaxed));
  }

  // The rest runs on the loop's thread only.
  void StartDial(Connection* c);
  void ConnectNext(Connection* c, int last_error);
  void OnConnectDone(Connection* c, uint32_t events);
  void Connected(Connection* c);
  void DialFailed(Connection* c, const std::string& code, const std::string& message);
  bool Pump(Connection* c, Direction& d);
  bool Flush(Connection* c, Direction& d);
  bool Send(Connection* c, Direction& d, const char* data, size_t length);
  bool SpliceOut(Connection* c, Direction& d);
  void OpenPipe(Direction& d);
  // Splice refused on this direction: what is in the pipe moves to
  // `pending`, and the direction copies from now on.
  void StopSplicing(Direction& d);
  void Fail(Connection* c, Side& failed);
  void Finish(Connection* c);
  void UpdateInterest(Connection* c, Side& side);
  void Watch(Side& side, uint32_t events);
  void Count(int counter, int64_t amount);
  void ArmDialTimer();
  void RemoveFromDialQueue(Connection* c);
  const Target& target() const { return target_; }

 private:
  static void OnReadable(uv_poll_t* poll, int status, int events);
  static void OnMessage(uv_async_t* async);
  static void OnDialTimer(uv_timer_t* timer);
  static void OnResolved(uv_getaddrinfo_t* request, int status, addrinfo* result);
  static void OnClosed(uv_handle_t* handle);
  static void OnAcceptTimer(uv_timer_t* timer);

  void HandleEvent(Side* side, uint32_t events);
  void TakeConnection(int fd);
  // Accepts what is queued (a bounded number at a time: the other loops
  // accept too).
  void Accept();
  // The loop a new connection goes to: this one, or one with clearly fewer
  // open connections.
  RelayLoop* Lighter();
  void WatchListener(bool on);
  // After EMFILE and the like: reported, and accepting waits a moment
  // rather than spin on a connection it cannot take.
  void PauseAccepting(int errnum);
  void ResetConnections();
  // Frees what finished in this batch: later events of the batch may still
  // point at it.
  void AfterBatch();

  const Target& target_;
  Reports& reports_;
  uv_loop_t loop_;
  uv_poll_t poll_;
  uv_timer_t dial_timer_;
  uv_async_t message_;
  uv_timer_t accept_timer_;
  bool loop_ready_ = false;
  int epoll_fd_ = -1;
  std::thread thread_;
  std::unique_ptr<char[]> scratch_;
  std::unordered_set<Connection*> connections_;
  Connection* dial_head_ = nullptr;
  Connection* dial_tail_ = nullptr;
  std::vector<Connection*> finished_;
  // The listening socket as this loop watches it; its epoll data is
  // &listener_tag_, where a connection's is one of its Sides.
  int listen_fd_ = -1;
  bool listener_watched_ = false;
  char listener_tag_ = 0;
  const std::vector<std::unique_ptr<RelayLoop>>* peers_ = nullptr;

  // Shared with the JS thread. Counters have one writer, this loop.
  std::atomic<uint64_t> counters_[kCounterCount] = {};
  std::atomic<int64_t> open_{0};
  std::mutex mutex_;
  std::condition_variable done_;
  std::vector<int> arrivals_;
  uint64_t resets_wanted_ = 0;
  uint64_t resets_done_ = 0;
  int listen_wanted_ = -1;
  uint64_t listens_wanted_ = 0;
  uint64_t listens_done_ = 0;
  bool stop_wanted_ = false;

  friend struct ResolveRequest;
};

}  // namespace relay
