#include <sys/epoll.h>
#include <sys/socket.h>

#include <cerrno>

#include "relay-connection.h"

namespace relay {

void RelayLoop::StartDial(Connection* c) {
  c->dial_deadline = uv_now(&loop_) + target_.dial_timeout_ms;
  c->dialing = true;
  c->dial_previous = dial_tail_;
  if (dial_tail_ != nullptr) dial_tail_->dial_next = c;
  dial_tail_ = c;
  if (dial_head_ == nullptr) {
    dial_head_ = c;
    ArmDialTimer();
  }
  if (target_.literal != nullptr) {
    c->addresses = target_.literal.get();
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
  const int status = uv_getaddrinfo(&loop_, &request->request, &RelayLoop::OnResolved,
                                    target_.host.c_str(), target_.service.c_str(), &hints);
  if (status < 0) {
    c->resolving = nullptr;
    delete request;
    DialFailed(c, uv_err_name(status), "getaddrinfo " + std::string(uv_err_name(status)) + " " +
                                           target_.host);
  }
}

void RelayLoop::OnResolved(uv_getaddrinfo_t* request, int status, addrinfo* result) {
  auto* resolve = reinterpret_cast<ResolveRequest*>(request);
  Connection* c = resolve->connection;
  RelayLoop* self = resolve->loop;
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
    self->DialFailed(c, code, "getaddrinfo " + code + " " + self->target_.host);
  } else {
    c->addresses = result;
    c->owns_addresses = true;
    c->next_address = result;
    self->ConnectNext(c, 0);
  }
  self->AfterBatch();
}

// Tries the remaining addresses in order until a connect starts; the last
// error is the dial's when none is left (a name with an IPv6 and an IPv4
// address still reaches a target that listens on only one of them).
void RelayLoop::ConnectNext(Connection* c, int last_error) {
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
             "connect " + ErrnoName(errnum) + " " + target_.host + ":" + target_.service);
}

void RelayLoop::OnConnectDone(Connection* c, uint32_t events) {
  // A failed connect always raises EPOLLERR: without it, no need to ask.
  const int error = (events & (EPOLLERR | EPOLLHUP)) != 0 ? PendingError(c->target.fd) : 0;
  if (error == 0) {
    Connected(c);
    return;
  }
  CloseSide(c->target, false);
  ConnectNext(c, error);
}

void RelayLoop::Connected(Connection* c) {
  RemoveFromDialQueue(c);
  if (c->owns_addresses) uv_freeaddrinfo(c->addresses);
  c->addresses = c->next_address = nullptr;
  c->owns_addresses = false;
  c->state = Connection::State::kRelaying;
  Count(kDialed, 1);
  Count(kActiveOutbound, 1);
  // The client has usually sent its first bytes by now: forward them
  // without waiting for epoll to say so.
  if (!Pump(c, c->up)) return;
  UpdateInterest(c, c->client);
  UpdateInterest(c, c->target);
}

void RelayLoop::DialFailed(Connection* c, const std::string& code, const std::string& message) {
  reports_.Add({Notice::kDialFailure, code, message});
  CloseSide(c->target, false);
  CloseSide(c->client, true);
  Finish(c);
}

void RelayLoop::OnDialTimer(uv_timer_t* timer) {
  auto* self = static_cast<RelayLoop*>(timer->data);
  const uint64_t now = uv_now(timer->loop);
  while (self->dial_head_ != nullptr && self->dial_head_->dial_deadline <= now) {
    self->DialFailed(self->dial_head_, "ETIMEDOUT",
                     "no answer within " + std::to_string(self->target_.dial_timeout_ms) + " ms");
  }
  self->ArmDialTimer();
  self->AfterBatch();
}

void RelayLoop::ArmDialTimer() {
  if (dial_head_ == nullptr) {
    uv_timer_stop(&dial_timer_);
    return;
  }
  const uint64_t now = uv_now(&loop_);
  const uint64_t deadline = dial_head_->dial_deadline;
  uv_timer_start(&dial_timer_, &RelayLoop::OnDialTimer, deadline > now ? deadline - now : 0,
                 0);
}

void RelayLoop::RemoveFromDialQueue(Connection* c) {
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
  if (was_head && dial_head_ == nullptr) uv_timer_stop(&dial_timer_);
}

}  // namespace relay
