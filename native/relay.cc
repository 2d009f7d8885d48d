#include "relay.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "errors.h"

namespace conntrack {

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

// Bytes one way: read from `from`, written to `to`. Bytes the receiver did
// not take at once wait in `pending`, and `from` is not read meanwhile:
// that is the back-pressure, and the bound on memory.
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
  bool eof = false;   // FIN read from `from`
  bool shut = false;  // FIN passed on to `to`
};

struct ResolveRequest {
  uv_getaddrinfo_t request;
  TcpRelay* relay;
  Connection* connection;  // null once the connection no longer waits for it
};

struct Connection {
  enum class State { kResolving, kConnecting, kRelaying, kClosed };
  Side client;
  Side target;
  Direction up{&client, &target, TcpRelay::kClientReceived, TcpRelay::kTargetSent};
  Direction down{&target, &client, TcpRelay::kTargetReceived, TcpRelay::kClientSent};
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

// Owned by libuv once started: freed in the close callbacks, after the relay
// may be gone.
struct RelayHandles {
  uv_poll_t poll;
  uv_timer_t dial_timer;
  uv_timer_t accept_timer;
  TcpRelay* owner = nullptr;
  int open_handles = 0;
  napi_async_cleanup_hook_handle hook = nullptr;
};

const char* const TcpRelay::kCounterNames[kCounterCount] = {
    "accepted",       "dialed",     "activeInbound",  "activeOutbound",
    "clientReceived", "targetSent", "targetReceived", "clientSent"};

namespace {

constexpr int kEventsPerWait = 256;
// Reads of one direction per wakeup, so that one bulk stream cannot hold
// the loop; epoll is level-triggered and reports the rest next time.
constexpr int kReadsPerPump = 8;
// After EMFILE and the like, accepting waits this long rather than spin on
// a connection it cannot take; the kernel keeps the rest queued.
constexpr uint64_t kAcceptPauseMs = 100;
// Go's default, which the original proxy had: dead peers do not hold
// connections, or a drain, open for ever.
constexpr int kKeepAliveSeconds = 15;

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

int PendingError(int fd) {
  int error = 0;
  socklen_t length = sizeof error;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) < 0) return errno;
  return error;
}

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

void TcpRelay::Export(Napi::Env env, Napi::Object exports) {
  exports.Set("TcpRelay", Define(env));
  Napi::Array names = Napi::Array::New(env, kCounterCount);
  for (uint32_t i = 0; i < kCounterCount; i++) names.Set(i, kCounterNames[i]);
  exports.Set("relayCounterNames", names);
  exports.Set("relayBufferBytes", Napi::Number::New(env, kBufferBytes));
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

void TcpRelay::StartDial(Connection* c) {
  c->dial_deadline = uv_now(handles_->poll.loop) + dial_timeout_ms_;
  c->dialing = true;
  c->dial_previous = dial_tail_;
  if (dial_tail_ != nullptr) dial_tail_->dial_next = c;
  dial_tail_ = c;
  if (dial_head_ == nullptr) {
    dial_head_ = c;
    ArmDialTimer();
  }
  if (literal_target_ != nullptr) {
    c->addresses = literal_target_.get();
    c->next_address = c->addresses;
    ConnectNext(c, 0);
    return;
  }
  // A name is resolved at each dial (off the loop, in libuv's threads), so
  // DNS changes are followed as they were with net.connect.
  auto* request = new ResolveRequest{{}, this, c};
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  c->resolving = request;
  const int status = uv_getaddrinfo(handles_->poll.loop, &request->request, &TcpRelay::OnResolved,
                                    target_host_.c_str(), target_service_.c_str(), &hints);
  if (status < 0) {
    c->resolving = nullptr;
    delete request;
    DialFailed(c, uv_err_name(status), "getaddrinfo " + std::string(uv_err_name(status)) + " " +
                                           target_host_);
  }
}

void TcpRelay::OnResolved(uv_getaddrinfo_t* request, int status, addrinfo* result) {
  auto* resolve = reinterpret_cast<ResolveRequest*>(request);
  Connection* c = resolve->connection;
  TcpRelay* self = resolve->relay;
  delete resolve;
  if (c == nullptr) {
    if (result != nullptr) uv_freeaddrinfo(result);
    return;
  }
  c->resolving = nullptr;
  if (status < 0) {
    // Named as Node names them, so the TS classification is the same as before.
    std::string code = uv_err_name(status);
    if (status == UV_EAI_NONAME || status == UV_EAI_NODATA) code = "ENOTFOUND";
    self->DialFailed(c, code, "getaddrinfo " + code + " " + self->target_host_);
  } else {
    c->addresses = result;
    c->owns_addresses = true;
    c->next_address = result;
    self->ConnectNext(c, 0);
  }
  Napi::HandleScope scope(self->Env());
  self->AfterBatch();
}

// Tries the remaining addresses in order until a connect starts; the last
// error is the dial's when none is left (a name with an IPv6 and an IPv4
// address still reaches a target that listens on only one of them).
void TcpRelay::ConnectNext(Connection* c, int last_error) {
  while (c->next_address != nullptr) {
    const addrinfo* address = c->next_address;
    c->next_address = address->ai_next;
    const int fd = socket(address->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      last_error = errno;
      continue;
    }
    TuneSocket(fd);
    c->target.fd = fd;
    c->target.watched = false;
    c->state = Connection::State::kConnecting;
    if (connect(fd, address->ai_addr, address->ai_addrlen) == 0) {
      Connected(c);
      return;
    }
    if (errno == EINPROGRESS) {
      Watch(c->target, EPOLLOUT);
      return;
    }
    last_error = errno;
    CloseSide(c->target, false);
  }
  const int errnum = last_error != 0 ? last_error : EADDRNOTAVAIL;
  DialFailed(c, ErrnoName(errnum),
             "connect " + ErrnoName(errnum) + " " + target_host_ + ":" + target_service_);
}

void TcpRelay::OnConnectDone(Connection* c, uint32_t events) {
  // A failed connect always raises EPOLLERR: without it, no need to ask.
  const int error = (events & (EPOLLERR | EPOLLHUP)) != 0 ? PendingError(c->target.fd) : 0;
  if (error == 0) {
    Connected(c);
    return;
  }
  CloseSide(c->target, false);
  ConnectNext(c, error);
}

void TcpRelay::Connected(Connection* c) {
  RemoveFromDialQueue(c);
  if (c->owns_addresses) uv_freeaddrinfo(c->addresses);
  c->addresses = c->next_address = nullptr;
  c->owns_addresses = false;
  c->state = Connection::State::kRelaying;
  Count(kDialed, 1);
  counters_[kActiveOutbound] += 1;
  // The client has usually sent its first bytes by now: forward them
  // without waiting for epoll to say so.
  if (!Pump(c, c->up)) return;
  UpdateInterest(c, c->client);
  UpdateInterest(c, c->target);
}

void TcpRelay::DialFailed(Connection* c, const std::string& code, const std::string& message) {
  notices_.push_back({Notice::kDialFailure, code, message});
  CloseSide(c->target, false);
  CloseSide(c->client, true);
  Finish(c);
}

void TcpRelay::OnDialTimer(uv_timer_t* timer) {
  TcpRelay* self = static_cast<RelayHandles*>(timer->data)->owner;
  if (self == nullptr) return;
  const uint64_t now = uv_now(timer->loop);
  while (self->dial_head_ != nullptr && self->dial_head_->dial_deadline <= now) {
    self->DialFailed(self->dial_head_, "ETIMEDOUT",
                     "no answer within " + std::to_string(self->dial_timeout_ms_) + " ms");
  }
  self->ArmDialTimer();
  Napi::HandleScope scope(self->Env());
  self->AfterBatch();
}

void TcpRelay::ArmDialTimer() {
  if (handles_ == nullptr) return;
  if (dial_head_ == nullptr) {
    uv_timer_stop(&handles_->dial_timer);
    return;
  }
  const uint64_t now = uv_now(handles_->poll.loop);
  const uint64_t deadline = dial_head_->dial_deadline;
  uv_timer_start(&handles_->dial_timer, &TcpRelay::OnDialTimer, deadline > now ? deadline - now : 0,
                 0);
}

void TcpRelay::RemoveFromDialQueue(Connection* c) {
  if (!c->dialing) return;
  c->dialing = false;
  const bool was_head = dial_head_ == c;
  if (c->dial_previous != nullptr) c->dial_previous->dial_next = c->dial_next;
  else dial_head_ = c->dial_next;
  if (c->dial_next != nullptr) c->dial_next->dial_previous = c->dial_previous;
  else dial_tail_ = c->dial_previous;
  c->dial_previous = c->dial_next = nullptr;
  // An earlier timer only fires, finds nothing due, and re-arms; leaving
  // it saves a timer update per connection.
  if (was_head && dial_head_ == nullptr && handles_ != nullptr) {
    uv_timer_stop(&handles_->dial_timer);
  }
}

// Moves what it can one way. False when the connection has ended (an error
// on either socket), so the caller stops touching it.
bool TcpRelay::Pump(Connection* c, Direction& d) {
  if (d.pending_length > 0) {
    const size_t length = d.pending_length;
    d.pending_length = 0;
    if (!Send(c, d, d.pending.get() + d.pending_offset, length)) return false;
    if (d.pending_length > 0) return true;
  }
  for (int reads = 0; !d.eof && d.from->fd >= 0; reads++) {
    // A hung-up socket is out of the epoll set: read it to the end now.
    if (reads >= kReadsPerPump && !d.from->hung_up) break;
    const ssize_t n = recv(d.from->fd, scratch_.get(), kBufferBytes, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      Fail(c, *d.from);
      return false;
    }
    if (n == 0) {
      d.eof = true;
      break;
    }
    Count(d.read_counter, static_cast<double>(n));
    if (!Send(c, d, scratch_.get(), static_cast<size_t>(n))) return false;
    if (d.pending_length > 0) break;
    // A short read emptied the socket; epoll says when there is more.
    if (static_cast<size_t>(n) < kBufferBytes && !d.from->hung_up) break;
  }
  if (d.eof && d.pending_length == 0 && !d.shut) {
    // Half-close: the FIN goes on once everything before it has. When the
    // other way has ended already, the close that follows sends it.
    const Direction& other = &d == &c->up ? c->down : c->up;
    if (!other.shut) shutdown(d.to->fd, SHUT_WR);
    d.shut = true;
  }
  return true;
}

// Writes what the receiver takes now and keeps the rest in `pending`.
// `data` is either the shared scratch buffer or the direction's own pending bytes.
bool TcpRelay::Send(Connection* c, Direction& d, const char* data, size_t length) {
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
  Count(d.written_counter, static_cast<double>(sent));
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

// An error or RST on one socket: the other gets an RST too.
void TcpRelay::Fail(Connection* c, Side& failed) {
  Side& other = &failed == &c->client ? c->target : c->client;
  CloseSide(failed, true);
  CloseSide(other, true);
  Finish(c);
}

void TcpRelay::Finish(Connection* c) {
  if (c->state == Connection::State::kClosed) return;
  if (c->state == Connection::State::kRelaying) counters_[kActiveOutbound] -= 1;
  counters_[kActiveInbound] -= 1;
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
  open_.erase(c);
  // Freed after the batch: later events of this batch may still point at it.
  finished_.push_back(c);
}

void TcpRelay::UpdateInterest(Connection* c, Side& side) {
  if (side.fd < 0 || side.hung_up) return;
  const bool is_client = &side == &c->client;
  const Direction& out = is_client ? c->up : c->down;
  const Direction& in = is_client ? c->down : c->up;
  uint32_t events = 0;
  if (!out.eof && out.pending_length == 0) events |= EPOLLIN;
  if (in.pending_length > 0) events |= EPOLLOUT;
  if (events != side.events || !side.watched) Watch(side, events);
}

void TcpRelay::Watch(Side& side, uint32_t events) {
  epoll_event event{};
  event.events = events;
  event.data.ptr = &side;
  if (epoll_ctl(epoll_fd_, side.watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, side.fd, &event) == 0) {
    side.events = events;
    side.watched = true;
  }
}

void TcpRelay::Count(int counter, double amount) {
  // Connection counts are always kept: the gauges and drain depend on them.
  if (count_bytes_ || counter == kAccepted || counter == kDialed) counters_[counter] += amount;
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

}  // namespace conntrack
