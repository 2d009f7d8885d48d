#include "events.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>

extern "C" {
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnfnetlink/linux_nfnetlink.h>
}

#include "errors.h"
#include "netns.h"
#include "record.h"

namespace conntrack {

// Owned by libuv once opened: it must outlive the EventStream until the
// close callbacks, the last of which removes the teardown hook.
struct PollHandle {
  uv_poll_t poll;
  // Runs while polling is paused after a pass (see kPauseAfterPassMs).
  uv_timer_t pause;
  EventStream* owner = nullptr;
  int open_handles = 0;
  napi_async_cleanup_hook_handle hook = nullptr;
};

namespace {

// Datagrams read per recvmmsg call, and the room for each. A conntrack event
// is well under 1 KiB; a datagram larger than the slot is reported as an
// overflow (MSG_TRUNC), never parsed half.
constexpr int kDatagramsPerRead = 32;
constexpr size_t kDatagramBytes = 8192;
// Bounds one pass so that a flood of events cannot starve the rest of the
// loop; uv_poll is level-triggered, so the remainder is read on the next turn.
constexpr int kMaxDatagramsPerPass = 2048;
// After a pass over the socket, it is left alone this long before the next.
// A burst then reaches JS in batches of hundreds of events instead of a few
// per wakeup: in make bench's bursts the exporter woke for a handful of
// events each time, and the cost per wakeup (two recvmmsg calls, a call
// into JS, a batch's objects) was a third of its CPU (the burst rows of
// BENCHMARKS.md). Events wait at most this long; a millisecond of even the
// fastest burst is far below the smallest receive buffer worth using.
constexpr uint64_t kPauseAfterPassMs = 1;

// The record's kEventType for a ctnetlink message: the kernel marks a new
// entry's message with NLM_F_CREATE|NLM_F_EXCL, as libnetfilter_conntrack does.
uint8_t EventTypeByte(const nlmsghdr* header) {
  switch (NFNL_MSG_TYPE(header->nlmsg_type)) {
    case IPCTNL_MSG_CT_NEW:
      return (header->nlmsg_flags & (NLM_F_CREATE | NLM_F_EXCL)) != 0 ? 1 : 2;
    case IPCTNL_MSG_CT_DELETE:
      return 3;
    default:
      return 0;
  }
}

void OnClosed(uv_handle_t* handle) {
  auto* poll = static_cast<PollHandle*>(handle->data);
  if (--poll->open_handles > 0) return;
  if (poll->hook != nullptr) napi_remove_async_cleanup_hook(poll->hook);
  delete poll;
}

// Both handles, or only the poll when opening failed before the timer was made.
void CloseHandles(PollHandle* poll) {
  uv_poll_stop(&poll->poll);
  uv_close(reinterpret_cast<uv_handle_t*>(&poll->poll), OnClosed);
  if (poll->pause.data != nullptr) uv_close(reinterpret_cast<uv_handle_t*>(&poll->pause), OnClosed);
}

}  // namespace

Napi::Function EventStream::Define(Napi::Env env) {
  return DefineClass(env, "EventStream",
                     {
                         InstanceMethod("close", &EventStream::Close),
                         InstanceMethod("ref", &EventStream::KeepLoopAlive),
                         InstanceMethod("unref", &EventStream::LetLoopExit),
                         InstanceAccessor("receiveBufferBytes", &EventStream::ReceiveBufferBytes,
                                          nullptr),
                     });
}

EventStream::EventStream(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EventStream>(info) {
  Napi::Env env = info.Env();
  on_batch_ = Napi::Persistent(info[1].As<Napi::Function>());
  on_overflow_ = Napi::Persistent(info[2].As<Napi::Function>());
  on_error_ = Napi::Persistent(info[3].As<Napi::Function>());
  context_ = std::make_unique<Napi::AsyncContext>(env, "conntrack.events");
  receive_buffer_.resize(kDatagramsPerRead * kDatagramBytes);
  Open(env, info[0].As<Napi::Number>().Int32Value());
  // An open stream must not be collected while the kernel still talks to it.
  Napi::ObjectWrap<EventStream>::Ref();
  js_ref_held_ = true;
}

EventStream::~EventStream() { Shutdown(); }

void EventStream::Open(Napi::Env env, int receive_buffer_bytes) {
  {
    // The socket belongs to the namespace it is created in (see netns.h).
    NetnsScope scope("events");
    if (scope.error().failed()) throw scope.error().ToJs(env);
    handle_ = nfct_open(CONNTRACK, NFCT_ALL_CT_GROUPS);
  }
  if (handle_ == nullptr) throw SystemError{"nfct_open(events)", errno}.ToJs(env);
  const int fd = nfct_fd(handle_);
  auto fail = [&](const char* context, int errnum) {
    Shutdown();
    throw SystemError{context, errnum}.ToJs(env);
  };

  // TCP events only, chosen in the kernel (a BPF filter on the socket): the
  // others would be dropped here anyway, and in the meantime they would fill
  // the receive buffer and cost a wakeup and a parse each.
  nfct_filter* filter = nfct_filter_create();
  if (filter == nullptr) fail("nfct_filter_create", ENOMEM);
  nfct_filter_add_attr_u32(filter, NFCT_FILTER_L4PROTO, IPPROTO_TCP);
  const int attached = nfct_filter_attach(fd, filter);
  const int attach_errno = errno;
  nfct_filter_destroy(filter);
  if (attached < 0) fail("nfct_filter_attach", attach_errno);

  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) fail("fcntl(O_NONBLOCK)", errno);
  // SO_RCVBUFFORCE may exceed net.core.rmem_max but needs CAP_NET_ADMIN,
  // which reading events needs anyway; SO_RCVBUF is the capped fallback.
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &receive_buffer_bytes,
                 sizeof receive_buffer_bytes) < 0 &&
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes,
                 sizeof receive_buffer_bytes) < 0) {
    fail("setsockopt(SO_RCVBUF)", errno);
  }
  socklen_t length = sizeof receive_buffer_bytes_;
  if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes_, &length) < 0) {
    fail("getsockopt(SO_RCVBUF)", errno);
  }

  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) fail("napi_get_uv_event_loop", EINVAL);
  auto* poll = new PollHandle();
  if (int status = uv_poll_init(loop, &poll->poll, fd); status < 0) {
    delete poll;
    fail("uv_poll_init", -status);
  }
  poll->poll.data = poll;
  poll->pause.data = nullptr;
  poll->open_handles = 1;
  poll->owner = this;
  poll_ = poll;
  if (int status = uv_timer_init(loop, &poll->pause); status < 0) fail("uv_timer_init", -status);
  poll->pause.data = poll;
  poll->open_handles = 2;
  if (int status = uv_poll_start(&poll->poll, UV_READABLE, &EventStream::OnReadable); status < 0) {
    fail("uv_poll_start", -status);
  }
  // Neither keeps the loop alive until ref() (see SetLoopAlive).
  uv_unref(reinterpret_cast<uv_handle_t*>(&poll->poll));
  uv_unref(reinterpret_cast<uv_handle_t*>(&poll->pause));
  // Closes the stream if the environment (the process, or a worker thread)
  // ends with it open; a live handle would otherwise make teardown fail.
  if (napi_add_async_cleanup_hook(env, &EventStream::OnEnvTeardown, poll, &poll->hook) != napi_ok) {
    poll->hook = nullptr;
    fail("napi_add_async_cleanup_hook", EINVAL);
  }
}

void EventStream::OnReadable(uv_poll_t* poll, int status, int /*events*/) {
  EventStream* self = static_cast<PollHandle*>(poll->data)->owner;
  if (self == nullptr) return;
  Napi::HandleScope scope(self->Env());
  if (status == UV_EBADF && self->handle_ != nullptr) {
    // libuv reports a pending socket error (POLLERR) as EBADF and stops the
    // handle. On this socket that error is how the kernel says it dropped
    // events; reading SO_ERROR takes it, then reading goes on.
    int pending = 0;
    socklen_t length = sizeof pending;
    if (getsockopt(nfct_fd(self->handle_), SOL_SOCKET, SO_ERROR, &pending, &length) < 0) {
      pending = errno;
    }
    if (pending != ENOBUFS) {
      self->DeliverError("uv_poll", pending != 0 ? pending : EBADF);
      return;
    }
    if (int restarted = uv_poll_start(poll, UV_READABLE, &EventStream::OnReadable); restarted < 0) {
      self->DeliverError("uv_poll_start", -restarted);
      return;
    }
    if (!self->DeliverOverflow()) return;
  } else if (status < 0) {
    self->DeliverError("uv_poll", -status);
    return;
  }
  self->Drain();
  // Closed by a callback during the pass: the handles are closing.
  if (self->poll_ == nullptr) return;
  uv_poll_stop(poll);
  uv_timer_start(&self->poll_->pause, &EventStream::OnPauseOver, kPauseAfterPassMs, 0);
}

void EventStream::OnPauseOver(uv_timer_t* timer) {
  auto* poll = static_cast<PollHandle*>(timer->data);
  EventStream* self = poll->owner;
  if (self == nullptr) return;
  // Level-triggered: whatever arrived meanwhile makes it fire at once.
  if (int status = uv_poll_start(&poll->poll, UV_READABLE, &EventStream::OnReadable); status < 0) {
    Napi::HandleScope scope(self->Env());
    self->DeliverError("uv_poll_start", -status);
  }
}

void EventStream::OnEnvTeardown(napi_async_cleanup_hook_handle /*hook*/, void* arg) {
  EventStream* owner = static_cast<PollHandle*>(arg)->owner;
  // Without an owner the handle is already closing; its close callback
  // removes this hook.
  if (owner != nullptr) owner->Shutdown();
}

void EventStream::Drain() {
  mmsghdr messages[kDatagramsPerRead];
  iovec vectors[kDatagramsPerRead];
  sockaddr_nl senders[kDatagramsPerRead];
  bool drained = false;
  int datagrams = 0;
  while (datagrams < kMaxDatagramsPerPass && handle_ != nullptr) {
    for (int i = 0; i < kDatagramsPerRead; i++) {
      vectors[i] = {receive_buffer_.data() + i * kDatagramBytes, kDatagramBytes};
      messages[i] = {};
      messages[i].msg_hdr.msg_iov = &vectors[i];
      messages[i].msg_hdr.msg_iovlen = 1;
      messages[i].msg_hdr.msg_name = &senders[i];
      messages[i].msg_hdr.msg_namelen = sizeof senders[i];
    }
    const int count = recvmmsg(nfct_fd(handle_), messages, kDatagramsPerRead, MSG_DONTWAIT, nullptr);
    if (count < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        drained = true;
        break;
      }
      if (errno == ENOBUFS) {
        // The kernel reports the drop before the events it had queued
        // earlier; those follow, then newer ones.
        if (!DeliverRecords(false) || !DeliverOverflow()) return;
        continue;
      }
      const int errnum = errno;
      if (DeliverRecords(false)) DeliverError("recvmmsg", errnum);
      return;
    }
    for (int i = 0; i < count; i++) {
      if (messages[i].msg_hdr.msg_flags & MSG_TRUNC) {
        if (!DeliverRecords(false) || !DeliverOverflow()) return;
        continue;
      }
      // Only the kernel may speak on the conntrack groups.
      if (senders[i].nl_pid != 0) continue;
      if (!ParseDatagram(receive_buffer_.data() + i * kDatagramBytes,
                         static_cast<int>(messages[i].msg_len)) &&
          (!DeliverRecords(false) || !DeliverOverflow())) {
        return;
      }
    }
    datagrams += count;
  }
  if (handle_ == nullptr) return;
  if (!records_.empty() || (drained && report_next_drain_)) DeliverRecords(drained);
}

bool EventStream::ParseDatagram(const uint8_t* data, int length) {
  bool complete = true;
  for (auto* header = reinterpret_cast<const nlmsghdr*>(data); NLMSG_OK(header, length);
       header = NLMSG_NEXT(header, length)) {
    if (NFNL_SUBSYS_ID(header->nlmsg_type) != NFNL_SUBSYS_CTNETLINK) continue;
    const uint8_t event_type = EventTypeByte(header);
    if (event_type == 0) continue;
    nf_conntrack* ct = nfct_new();
    if (ct == nullptr || nfct_nlmsg_parse(header, ct) < 0) {
      complete = false;
    } else {
      const size_t offset = records_.size();
      records_.resize(offset + kRecordSize);
      if (!PackEntry(ct, event_type, records_.data() + offset)) records_.resize(offset);
    }
    if (ct != nullptr) nfct_destroy(ct);
  }
  return complete;
}

bool EventStream::DeliverRecords(bool drained) {
  if (handle_ == nullptr) return false;
  if (records_.empty() && !drained) return true;
  if (drained) report_next_drain_ = false;
  Napi::Env env = Env();
  // A drain after an overflow may have no records: an external buffer with
  // no data would reach JS already detached, so it gets a plain empty one.
  if (records_.empty()) {
    return Call(on_batch_, {Napi::ArrayBuffer::New(env, 0), Napi::Boolean::New(env, drained)});
  }
  // Hand the bytes to JS without a copy; the vector is freed with the buffer.
  auto* owned = new std::vector<uint8_t>(std::move(records_));
  records_ = {};
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(
      env, owned->data(), owned->size(),
      [](Napi::Env, void*, std::vector<uint8_t>* data) { delete data; }, owned);
  return Call(on_batch_, {buffer, Napi::Boolean::New(env, drained)});
}

bool EventStream::DeliverOverflow() {
  if (handle_ == nullptr) return false;
  report_next_drain_ = true;
  return Call(on_overflow_, {});
}

void EventStream::DeliverError(const char* context, int errnum) {
  if (handle_ == nullptr) return;
  Napi::Env env = Env();
  Napi::Value error = SystemError{context, errnum}.ToJs(env).Value();
  Shutdown();
  // The callbacks are still held: ReleaseJs() runs after the last one.
  if (on_error_.IsEmpty()) return;
  try {
    on_error_.MakeCallback(Value(), {error}, *context_);
  } catch (const Napi::Error& thrown) {
    napi_fatal_exception(env, thrown.Value());
  }
  ReleaseJs();
}

bool EventStream::Call(Napi::FunctionReference& callback, std::initializer_list<napi_value> args) {
  try {
    callback.MakeCallback(Value(), args, *context_);
  } catch (const Napi::Error& thrown) {
    // Nothing on the native stack can handle it: it is the listener's
    // exception, so it goes where an exception in a socket listener goes.
    napi_fatal_exception(Env(), thrown.Value());
  }
  return handle_ != nullptr;
}

Napi::Value EventStream::Close(const Napi::CallbackInfo& info) {
  Shutdown();
  ReleaseJs();
  return info.Env().Undefined();
}

Napi::Value EventStream::KeepLoopAlive(const Napi::CallbackInfo& info) {
  SetLoopAlive(true);
  return info.Env().Undefined();
}

Napi::Value EventStream::LetLoopExit(const Napi::CallbackInfo& info) {
  SetLoopAlive(false);
  return info.Env().Undefined();
}

// Both handles: during a pause the poll is stopped, and only the timer is
// active to keep the loop alive.
void EventStream::SetLoopAlive(bool alive) {
  if (poll_ == nullptr) return;
  for (uv_handle_t* handle : {reinterpret_cast<uv_handle_t*>(&poll_->poll),
                              reinterpret_cast<uv_handle_t*>(&poll_->pause)}) {
    if (alive) {
      uv_ref(handle);
    } else {
      uv_unref(handle);
    }
  }
}

Napi::Value EventStream::ReceiveBufferBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), receive_buffer_bytes_);
}

void EventStream::Shutdown() {
  if (poll_ != nullptr) {
    // Stopped and closed before the socket: libuv must forget the fd first.
    poll_->owner = nullptr;
    CloseHandles(poll_);
    poll_ = nullptr;
  }
  if (handle_ != nullptr) {
    nfct_close(handle_);
    handle_ = nullptr;
  }
}

void EventStream::ReleaseJs() {
  on_batch_.Reset();
  on_overflow_.Reset();
  on_error_.Reset();
  if (js_ref_held_) {
    js_ref_held_ = false;
    Napi::ObjectWrap<EventStream>::Unref();
  }
}

}  // namespace conntrack
