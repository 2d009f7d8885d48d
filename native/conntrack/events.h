#pragma once

#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <vector>

struct nfct_handle;

namespace conntrack {

struct PollHandle;

// new EventStream(receiveBufferBytes, onBatch, onOverflow, onError): a
// subscription to the conntrack event groups (NEW, UPDATE, DESTROY) of the
// calling thread's network namespace, driven by a uv_poll on the JS thread's
// loop. The socket is non-blocking, so reading it there never waits.
//
// - onBatch(records: ArrayBuffer, drained: boolean): packed records (see
//   record.h) with kEventType set, one call per pass over the socket
//   (passes are at least a millisecond apart, so a burst comes in batches);
//   `drained` says the socket had nothing more queued after them.
// - onOverflow(): events were lost: the kernel dropped them (ENOBUFS), or a
//   message was truncated or could not be decoded.
//   Records read before the overflow was noticed are delivered first, and the
//   next pass that empties the socket is reported even when it is empty.
// - onError(error): the socket failed; the stream is closed by then.
//
// close() is idempotent. The stream does not keep the loop alive unless
// ref() is called, and it is closed at environment teardown if still open.
// Read-only: it subscribes to events and never sends a request.
class EventStream : public Napi::ObjectWrap<EventStream> {
 public:
  static Napi::Function Define(Napi::Env env);

  explicit EventStream(const Napi::CallbackInfo& info);
  ~EventStream() override;

 private:
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value KeepLoopAlive(const Napi::CallbackInfo& info);
  Napi::Value LetLoopExit(const Napi::CallbackInfo& info);
  Napi::Value ReceiveBufferBytes(const Napi::CallbackInfo& info);
  void SetLoopAlive(bool alive);

  static void OnReadable(uv_poll_t* poll, int status, int events);
  static void OnPauseOver(uv_timer_t* timer);
  static void OnEnvTeardown(napi_async_cleanup_hook_handle hook, void* arg);

  void Open(Napi::Env env, int receive_buffer_bytes);
  void Drain();
  // Appends the TCP events of one datagram to records_; false when a message
  // could not be decoded, which is reported like a drop.
  bool ParseDatagram(const uint8_t* data, int length);
  // Each returns false when the stream is closed afterwards (a callback may
  // close it), so the caller stops reading.
  bool DeliverRecords(bool drained);
  bool DeliverOverflow();
  void DeliverError(const char* context, int errnum);
  bool Call(Napi::FunctionReference& callback, std::initializer_list<napi_value> args);
  // Frees the socket and the poll handle. Touches no JS, so it is safe from
  // the finalizer and from the environment teardown hook.
  void Shutdown();
  // Drops the callbacks and the strong reference that kept this object alive
  // while open. JS thread only, outside teardown.
  void ReleaseJs();

  nfct_handle* handle_ = nullptr;
  PollHandle* poll_ = nullptr;
  int receive_buffer_bytes_ = 0;
  bool report_next_drain_ = false;
  std::vector<uint8_t> records_;
  std::vector<uint8_t> receive_buffer_;
  Napi::FunctionReference on_batch_;
  Napi::FunctionReference on_overflow_;
  Napi::FunctionReference on_error_;
  std::unique_ptr<Napi::AsyncContext> context_;
  bool js_ref_held_ = false;
};

}  // namespace conntrack
