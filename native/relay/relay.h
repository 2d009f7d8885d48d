#pragma once

#include <napi.h>
#include <uv.h>

#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

struct addrinfo;

namespace relay {

struct Connection;
struct Direction;
struct RelayHandles;
struct Side;

// The proxy's data path: new TcpRelay(targetHost, targetPort, dialTimeoutMs,
// countBytes, counters, onDialFailure, onAcceptError, onIdle).
//
// Accepts on a listening socket, dials the target for each connection and
// copies bytes both ways, all in C++ on the JS thread's loop: the sockets
// are non-blocking and sit in one epoll set of our own, which a single
// uv_poll watches. No JS runs per connection or per chunk (a net.Socket pair
// per connection is what held the JS proxy at half haproxy's connection
// rate), and no thread, so nothing needs a lock.
//
// - counters: a Float64Array of kCounterCount counts (names in
//   kCounterNames), written here and read by the metrics at scrape time.
// - onDialFailure(code, message): a dial failed (refused, timeout, name not
//   resolved...); the client has been reset. Classified and counted in TS.
// - onAcceptError(code, message): accept failed (EMFILE...); accepting
//   pauses briefly instead of spinning.
// - onIdle(): no connection is open, once after notifyWhenIdle().
//
// Callbacks run after a batch of socket events is handled, never in the
// middle of one. Argument checking is the TS wrapper's (src/proxy/tcp-proxy.ts).
class TcpRelay : public Napi::ObjectWrap<TcpRelay> {
 public:
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
  static const char* const kCounterNames[kCounterCount];
  // One read's worth: the shared scratch buffer, the most one splice moves
  // into a pipe, and so the most a direction ever holds when its receiver
  // is slow, copied or spliced.
  static constexpr size_t kBufferBytes = 128 * 1024;
  // A read at least this large says the direction carries a stream, which
  // then pays for a pipe of its own; request-sized exchanges stay copied
  // and cost no pipe (two fds, four system calls) per connection.
  static constexpr size_t kSpliceAfterBytes = 16 * 1024;

  static Napi::Function Define(Napi::Env env);

  explicit TcpRelay(const Napi::CallbackInfo& info);
  ~TcpRelay() override;

 private:
  struct Notice {
    enum Kind { kDialFailure, kAcceptError } kind;
    std::string code;
    std::string message;
  };

  Napi::Value Listen(const Napi::CallbackInfo& info);
  Napi::Value StopAccepting(const Napi::CallbackInfo& info);
  Napi::Value OpenConnections(const Napi::CallbackInfo& info);
  Napi::Value NotifyWhenIdle(const Napi::CallbackInfo& info);
  Napi::Value ResetAll(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  static void OnReadable(uv_poll_t* poll, int status, int events);
  static void OnDialTimer(uv_timer_t* timer);
  static void OnAcceptTimer(uv_timer_t* timer);
  static void OnEnvTeardown(napi_async_cleanup_hook_handle hook, void* arg);
  static void OnResolved(uv_getaddrinfo_t* request, int status, addrinfo* result);

  void HandleEvent(Side* side, uint32_t events);
  void Accept();
  void PauseAccepting(int errnum);
  void StartDial(Connection* c);
  void ConnectNext(Connection* c, int last_error);
  void OnConnectDone(Connection* c, uint32_t events);
  void Connected(Connection* c);
  void DialFailed(Connection* c, const std::string& code, const std::string& message);
  bool Pump(Connection* c, Direction& d);
  bool Send(Connection* c, Direction& d, const char* data, size_t length);
  // Passes on what the direction holds (copied or spliced); false when the
  // connection ended.
  bool Flush(Connection* c, Direction& d);
  bool SpliceOut(Connection* c, Direction& d);
  void OpenPipe(Direction& d);
  // Splice refused on this direction: what is in the pipe moves to
  // `pending`, and the direction copies from now on.
  void StopSplicing(Direction& d);
  void Fail(Connection* c, Side& failed);
  void Finish(Connection* c);
  void UpdateInterest(Connection* c, Side& side);
  void Watch(Side& side, uint32_t events);
  void Count(int counter, double amount);
  void ArmDialTimer();
  void RemoveFromDialQueue(Connection* c);
  // Runs after every batch: callbacks into JS, memory of finished
  // connections, and whether the loop must stay alive for us.
  void AfterBatch();
  void UpdateActive();
  void StopListening();
  // Frees sockets and handles; touches no JS (finalizer, teardown).
  void Shutdown();

  std::string target_host_;
  std::string target_service_;
  // An IP-literal target is parsed once; a name is resolved at each dial.
  std::unique_ptr<addrinfo> literal_target_;
  std::unique_ptr<char[]> literal_address_;
  uint64_t dial_timeout_ms_ = 0;
  bool count_bytes_ = true;
  double* counters_ = nullptr;

  int epoll_fd_ = -1;
  std::unique_ptr<Side> listener_;
  RelayHandles* handles_ = nullptr;
  std::unique_ptr<char[]> scratch_;
  std::unordered_set<Connection*> open_;
  Connection* dial_head_ = nullptr;
  Connection* dial_tail_ = nullptr;
  std::vector<Connection*> finished_;
  std::vector<Notice> notices_;
  bool idle_wanted_ = false;
  bool active_ = false;

  Napi::Reference<Napi::Float64Array> counters_ref_;
  Napi::FunctionReference on_dial_failure_;
  Napi::FunctionReference on_accept_error_;
  Napi::FunctionReference on_idle_;
  std::unique_ptr<Napi::AsyncContext> context_;
};

}  // namespace relay
