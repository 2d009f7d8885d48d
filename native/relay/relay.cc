#include "relay.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "../conntrack/errors.h"
#include "relay-connection.h"

namespace relay {

// The addon's one way of turning an errno into a JS error (code, errno, syscall).
using conntrack::SystemError;

const char* const TcpRelay::kCounterNames[kCounterCount] = {
    "accepted",       "dialed",     "activeInbound",  "activeOutbound",
    "clientReceived", "targetSent", "targetReceived", "clientSent"};

namespace {

constexpr int kEventsPerWait = 256;
// After EMFILE and the like, accepting waits this long rather than spin on
// a connection it cannot take; the kernel keeps the rest queued.
constexpr uint64_t kAcceptPauseMs = 100;

void OnHandleClosed(uv_handle_t* handle) {
  auto* handles = static_cast<RelayHandles*>(handle->data);
  if (--handles->open_handles > 0) return;
  if (handles->hook != nullptr) napi_remove_async_cleanup_hook(handles->hook);
  delete handles;
}

}  // namespace

Napi::Function TcpRelay::Define(Napi::Env env) {
  return DefineClass(env, "TcpRelay",
                     {
                         InstanceMethod("listen", &TcpRelay::Listen),
                         InstanceMethod("stopAccepting", &TcpRelay::StopAccepting),
                         InstanceMethod("notifyWhenIdle", &TcpRelay::NotifyWhenIdle),
                         InstanceMethod("resetAll", &TcpRelay::ResetAll),
                         InstanceMethod("close", &TcpRelay::Close),
                         InstanceAccessor("openConnections", &TcpRelay::OpenConnections, nullptr),
                     });
}

TcpRelay::TcpRelay(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TcpRelay>(info) {
  Napi::Env env = info.Env();
  target_host_ = info[0].As<Napi::String>().Utf8Value();
  target_service_ = std::to_string(info[1].As<Napi::Number>().Uint32Value());
  dial_timeout_ms_ = static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value());
  count_bytes_ = info[3].As<Napi::Boolean>().Value();
  Napi::Float64Array counters = info[4].As<Napi::Float64Array>();
  counters_ref_ = Napi::Persistent(counters);
  counters_ = counters.Data();
  on_dial_failure_ = Napi::Persistent(info[5].As<Napi::Function>());
  on_accept_error_ = Napi::Persistent(info[6].As<Napi::Function>());
  on_idle_ = Napi::Persistent(info[7].As<Napi::Function>());
  context_ = std::make_unique<Napi::AsyncContext>(env, "conntrack.relay");
  scratch_.reset(new char[kBufferBytes]);

  // An IP literal needs no resolver: one fixed address list of one entry.
  auto* storage = new char[sizeof(sockaddr_in6)]();
  literal_address_.reset(storage);
  auto* in = reinterpret_cast<sockaddr_in*>(storage);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(storage);
  const uint16_t port = htons(static_cast<uint16_t>(std::stoi(target_service_)));
  if (inet_pton(AF_INET, target_host_.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = port;
    literal_target_.reset(new addrinfo{0, AF_INET, SOCK_STREAM, 0, sizeof(sockaddr_in),
                                       reinterpret_cast<sockaddr*>(storage), nullptr, nullptr});
  } else if (inet_pton(AF_INET6, target_host_.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = port;
    literal_target_.reset(new addrinfo{0, AF_INET6, SOCK_STREAM, 0, sizeof(sockaddr_in6),
                                       reinterpret_cast<sockaddr*>(storage), nullptr, nullptr});
  }

  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) throw SystemError{"epoll_create1", errno}.ToJs(env);
  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    Shutdown();
    throw SystemError{"napi_get_uv_event_loop", EINVAL}.ToJs(env);
  }
  auto* handles = new RelayHandles();
  handles->owner = this;
  handles_ = handles;
  uv_poll_init(loop, &handles->poll, epoll_fd_);
  uv_timer_init(loop, &handles->dial_timer);
  uv_timer_init(loop, &handles->accept_timer);
  for (uv_handle_t* handle : {reinterpret_cast<uv_handle_t*>(&handles->poll),
                              reinterpret_cast<uv_handle_t*>(&handles->dial_timer),
                              reinterpret_cast<uv_handle_t*>(&handles->accept_timer)}) {
    handle->data = handles;
    handles->open_handles++;
    // Only an active relay keeps the process alive (UpdateActive).
    uv_unref(handle);
  }
  if (int status = uv_poll_start(&handles->poll, UV_READABLE, &TcpRelay::OnReadable); status < 0) {
    Shutdown();
    throw SystemError{"uv_poll_start", -status}.ToJs(env);
  }
  if (napi_add_async_cleanup_hook(env, &TcpRelay::OnEnvTeardown, handles, &handles->hook) !=
      napi_ok) {
    handles->hook = nullptr;
  }
}

TcpRelay::~TcpRelay() { Shutdown(); }

// listen(host, port): host is '' (every interface) or an IP literal; the TS
// wrapper resolves names. Returns {address, port, family}; throws the system
// error (EADDRINUSE...) with its code.
Napi::Value TcpRelay::Listen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string host = info[0].As<Napi::String>().Utf8Value();
  const uint16_t port = static_cast<uint16_t>(info[1].As<Napi::Number>().Uint32Value());
  if (listener_ != nullptr || epoll_fd_ < 0) throw SystemError{"listen", EALREADY}.ToJs(env);

  sockaddr_storage address{};
  socklen_t length = 0;
  auto* in = reinterpret_cast<sockaddr_in*>(&address);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&address);
  auto use_any6 = [&] {
    in6->sin6_family = AF_INET6;
    in6->sin6_addr = in6addr_any;
    in6->sin6_port = htons(port);
    length = sizeof *in6;
  };
  if (host.empty()) {
    use_any6();
  } else if (inet_pton(AF_INET, host.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    length = sizeof *in;
  } else if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    length = sizeof *in6;
  } else {
    throw SystemError{"listen", EINVAL}.ToJs(env);
  }

  int fd = socket(address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 && host.empty() && errno == EAFNOSUPPORT) {
    // No IPv6 on this host: every interface is then every IPv4 one, as in Node.
    address = {};
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(INADDR_ANY);
    in->sin_port = htons(port);
    length = sizeof *in;
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  }
  if (fd < 0) throw SystemError{"socket", errno}.ToJs(env);
  const int on = 1;
  const int off = 0;
  // As Node does: a restarted proxy can bind while old connections linger
  // in TIME_WAIT, and [::] also takes IPv4 connections.
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  if (address.ss_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  TuneSocket(fd);
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), length) < 0 || listen(fd, 511) < 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) < 0) {
    const int errnum = errno;
    close(fd);
    throw SystemError{"listen", errnum}.ToJs(env);
  }
  listener_ = std::make_unique<Side>();
  listener_->fd = fd;
  Watch(*listener_, EPOLLIN);
  UpdateActive();

  char text[INET6_ADDRSTRLEN] = "";
  Napi::Object result = Napi::Object::New(env);
  if (address.ss_family == AF_INET) {
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    result.Set("family", "IPv4");
    result.Set("port", ntohs(in->sin_port));
  } else {
    inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
    result.Set("family", "IPv6");
    result.Set("port", ntohs(in6->sin6_port));
  }
  result.Set("address", text);
  return result;
}

Napi::Value TcpRelay::StopAccepting(const Napi::CallbackInfo& info) {
  StopListening();
  AfterBatch();
  return info.Env().Undefined();
}

Napi::Value TcpRelay::OpenConnections(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(open_.size()));
}

Napi::Value TcpRelay::NotifyWhenIdle(const Napi::CallbackInfo& info) {
  idle_wanted_ = true;
  AfterBatch();
  return info.Env().Undefined();
}

Napi::Value TcpRelay::ResetAll(const Napi::CallbackInfo& info) {
  const std::vector<Connection*> all(open_.begin(), open_.end());
  for (Connection* c : all) {
    CloseSide(c->client, true);
    CloseSide(c->target, true);
    Finish(c);
  }
  AfterBatch();
  return info.Env().Undefined();
}

Napi::Value TcpRelay::Close(const Napi::CallbackInfo& info) {
  Shutdown();
  on_dial_failure_.Reset();
  on_accept_error_.Reset();
  on_idle_.Reset();
  if (active_) {
    active_ = false;
    Unref();
  }
  return info.Env().Undefined();
}

void TcpRelay::OnReadable(uv_poll_t* poll, int status, int /*events*/) {
  TcpRelay* self = static_cast<RelayHandles*>(poll->data)->owner;
  if (self == nullptr || status < 0) return;
  epoll_event events[kEventsPerWait];
  const int count = epoll_wait(self->epoll_fd_, events, kEventsPerWait, 0);
  for (int i = 0; i < count && self->epoll_fd_ >= 0; i++) {
    self->HandleEvent(static_cast<Side*>(events[i].data.ptr), events[i].events);
  }
  // More than one batch waiting: epoll stays readable, so libuv calls again
  // after the rest of the loop had its turn.
  Napi::HandleScope scope(self->Env());
  self->AfterBatch();
}

void TcpRelay::HandleEvent(Side* side, uint32_t events) {
  Connection* c = side->connection;
  if (c == nullptr) {
    if (side == listener_.get()) Accept();
    return;
  }
  // A connection finished earlier in this batch; its memory waits for AfterBatch.
  if (c->state == Connection::State::kClosed || side->fd < 0) return;
  if (c->state != Connection::State::kRelaying) {
    if (side == &c->target) {
      OnConnectDone(c, events);
    } else if (events & (EPOLLERR | EPOLLHUP)) {
      // The client left while the dial was pending: the dial goes with it.
      CloseSide(c->client, false);
      CloseSide(c->target, false);
      Finish(c);
    }
    return;
  }
  if (events & EPOLLERR) {
    Fail(c, *side);
    return;
  }
  Direction& from_side = side == &c->client ? c->up : c->down;
  Direction& to_side = side == &c->client ? c->down : c->up;
  if (events & EPOLLHUP) {
    side->hung_up = true;
    if (side->watched) epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, side->fd, nullptr);
    side->watched = false;
  }
  if ((events & (EPOLLIN | EPOLLHUP)) && !Pump(c, from_side)) return;
  if ((events & (EPOLLOUT | EPOLLHUP)) && !Pump(c, to_side)) return;
  if (c->up.shut && c->down.shut) {
    // Both ways ended in order: an ordinary close, no RST.
    CloseSide(c->client, false);
    CloseSide(c->target, false);
    Finish(c);
    return;
  }
  UpdateInterest(c, c->client);
  UpdateInterest(c, c->target);
}

void TcpRelay::Accept() {
  while (listener_ != nullptr) {
    const int fd = accept4(listener_->fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int errnum = errno;
      if (errnum == EAGAIN || errnum == EWOULDBLOCK) return;
      // Failures of one connection that has gone already.
      if (errnum == EINTR || errnum == ECONNABORTED || errnum == EPROTO || errnum == EPERM) {
        continue;
      }
      PauseAccepting(errnum);
      return;
    }
    // No TuneSocket(fd): Linux copies the listener's options (set in
    // Listen) to every socket it accepts, which saves four system calls
    // per connection.
    auto* c = new Connection();
    c->client.fd = fd;
    c->client.connection = c;
    c->target.connection = c;
    open_.insert(c);
    Count(kAccepted, 1);
    counters_[kActiveInbound] += 1;
    // Watched with no events: epoll still reports an error or hang-up,
    // which is how a client leaving during the dial is noticed.
    Watch(c->client, 0);
    StartDial(c);
  }
}

void TcpRelay::PauseAccepting(int errnum) {
  notices_.push_back({Notice::kAcceptError, ErrnoName(errnum), std::string("accept: ") +
                                                                   std::strerror(errnum)});
  if (listener_ == nullptr || handles_ == nullptr) return;
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listener_->fd, nullptr);
  listener_->watched = false;
  uv_timer_start(&handles_->accept_timer, &TcpRelay::OnAcceptTimer, kAcceptPauseMs, 0);
}

void TcpRelay::OnAcceptTimer(uv_timer_t* timer) {
  TcpRelay* self = static_cast<RelayHandles*>(timer->data)->owner;
  if (self == nullptr || self->listener_ == nullptr) return;
  self->Watch(*self->listener_, EPOLLIN);
}

void TcpRelay::StopListening() {
  if (listener_ == nullptr) return;
  close(listener_->fd);
  listener_.reset();
  if (handles_ != nullptr) uv_timer_stop(&handles_->accept_timer);
}

void TcpRelay::AfterBatch() {
  for (Connection* c : finished_) delete c;
  finished_.clear();
  std::vector<Notice> notices;
  notices.swap(notices_);
  const bool idle = idle_wanted_ && open_.empty();
  if (idle) idle_wanted_ = false;
  UpdateActive();
  Napi::Env env = Env();
  auto call = [&](Napi::FunctionReference& callback, std::initializer_list<napi_value> args) {
    if (callback.IsEmpty()) return;
    try {
      callback.MakeCallback(Value(), args, *context_);
    } catch (const Napi::Error& thrown) {
      // The listener's exception: it goes where one from a socket listener goes.
      napi_fatal_exception(env, thrown.Value());
    }
  };
  for (const Notice& notice : notices) {
    auto& callback = notice.kind == Notice::kDialFailure ? on_dial_failure_ : on_accept_error_;
    call(callback, {Napi::String::New(env, notice.code), Napi::String::New(env, notice.message)});
  }
  if (idle) call(on_idle_, {});
}

// While it listens or carries a connection, the relay keeps the loop (and
// itself) alive; after that, it is an ordinary object.
void TcpRelay::UpdateActive() {
  const bool active = handles_ != nullptr && (listener_ != nullptr || !open_.empty());
  if (active == active_) return;
  active_ = active;
  auto* poll = reinterpret_cast<uv_handle_t*>(&handles_->poll);
  if (active) {
    uv_ref(poll);
    Ref();
  } else {
    uv_unref(poll);
    Unref();
  }
}

void TcpRelay::OnEnvTeardown(napi_async_cleanup_hook_handle /*hook*/, void* arg) {
  TcpRelay* owner = static_cast<RelayHandles*>(arg)->owner;
  if (owner != nullptr) owner->Shutdown();
}

void TcpRelay::Shutdown() {
  StopListening();
  // Not Finish(): the counters' memory may already be gone at teardown.
  for (Connection* c : open_) {
    CloseSide(c->client, true);
    CloseSide(c->target, true);
    if (c->resolving != nullptr) {
      c->resolving->connection = nullptr;
      uv_cancel(reinterpret_cast<uv_req_t*>(&c->resolving->request));
    }
    if (c->owns_addresses) uv_freeaddrinfo(c->addresses);
    delete c;
  }
  open_.clear();
  dial_head_ = dial_tail_ = nullptr;
  for (Connection* c : finished_) delete c;
  finished_.clear();
  if (handles_ != nullptr) {
    handles_->owner = nullptr;
    uv_poll_stop(&handles_->poll);
    for (uv_handle_t* handle : {reinterpret_cast<uv_handle_t*>(&handles_->poll),
                                reinterpret_cast<uv_handle_t*>(&handles_->dial_timer),
                                reinterpret_cast<uv_handle_t*>(&handles_->accept_timer)}) {
      uv_close(handle, OnHandleClosed);
    }
    handles_ = nullptr;
  }
  if (epoll_fd_ >= 0) {
    close(epoll_fd_);
    epoll_fd_ = -1;
  }
}

}  // namespace relay
