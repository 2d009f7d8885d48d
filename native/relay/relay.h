#pragma once

#include <napi.h>
#include <uv.h>

#include <memory>
#include <vector>

#include "relay-loop.h"

namespace relay {

struct RelayHandles;

// The proxy's data path: new TcpRelay(targetHost, targetPort, dialTimeoutMs,
// countBytes, workers, onDialFailure, onAcceptError, onIdle).
//
// Opens a listening socket that `workers` relay loops (relay-loop.h) all
// watch, each a thread with its own libuv loop and epoll set, which
// accepts, dials the target and moves the bytes both ways. A loop with
// clearly more open connections than another hands what it accepts to
// that one, so a few long streams spread over the cores too. No JS runs
// per connection or per chunk (a net.Socket pair per connection is what
// held the JS proxy at half haproxy's connection rate), and the JS thread
// is not on a connection's way at all: accepting there and handing each
// socket to a loop cost a wake-up of two threads per connection.
//
// - readCounters(into): the kCounterCount counts (names in kCounterNames),
//   summed over the loops at this moment, for the metrics at scrape time.
// - onDialFailure(code, message): a dial failed (refused, timeout, name not
//   resolved...); the client has been reset. Classified and counted in TS.
// - onAcceptError(code, message): accept failed (EMFILE...); accepting
//   pauses briefly instead of spinning.
// - onIdle(): no connection is open, once after notifyWhenIdle().
//
// Callbacks run on the JS thread after the loops reported, never in the
// middle of anything. Argument checking is the TS wrapper's
// (src/proxy/tcp-proxy.ts).
class TcpRelay : public Napi::ObjectWrap<TcpRelay> {
 public:
  static Napi::Function Define(Napi::Env env);

  explicit TcpRelay(const Napi::CallbackInfo& info);
  ~TcpRelay() override;

 private:
  Napi::Value Listen(const Napi::CallbackInfo& info);
  Napi::Value StopAccepting(const Napi::CallbackInfo& info);
  Napi::Value OpenConnections(const Napi::CallbackInfo& info);
  Napi::Value NotifyWhenIdle(const Napi::CallbackInfo& info);
  Napi::Value ResetAll(const Napi::CallbackInfo& info);
  Napi::Value ReadCounters(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  static void OnReports(uv_async_t* async);
  static void OnEnvTeardown(napi_async_cleanup_hook_handle hook, void* arg);

  int64_t Open() const;
  // Runs after every report from the loops and every call from JS:
  // callbacks into JS, and whether the JS loop must stay alive for us.
  void AfterBatch();
  void UpdateActive();
  void StopListening();
  // Stops the loops and frees sockets and handles; touches no JS
  // (finalizer, teardown).
  void Shutdown();

  Target target_;
  std::unique_ptr<Reports> reports_;
  std::vector<std::unique_ptr<RelayLoop>> loops_;
  // Counts of loops already stopped, so totals survive close().
  double retired_[kCounterCount] = {};
  int listen_fd_ = -1;
  bool listened_ = false;
  RelayHandles* handles_ = nullptr;
  bool idle_wanted_ = false;
  bool active_ = false;

  Napi::FunctionReference on_dial_failure_;
  Napi::FunctionReference on_accept_error_;
  Napi::FunctionReference on_idle_;
  std::unique_ptr<Napi::AsyncContext> context_;
};

}  // namespace relay
