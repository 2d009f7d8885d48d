#include "relay-loop.h"

#include <sys/prctl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <system_error>

#include "relay-connection.h"

namespace relay {

const char* const kCounterNames[kCounterCount] = {
    "accepted",       "dialed",     "activeInbound",  "activeOutbound",
    "clientReceived", "targetSent", "targetReceived", "clientSent"};

namespace {

constexpr int kEventsPerWait = 256;
// Accepted per readiness of the listening socket: the other loops take
// the rest, and this loop's connections are not kept waiting.
constexpr int kAcceptsPerTurn = 16;
// After EMFILE and the like, accepting waits this long; the kernel keeps
// the connections queued meanwhile.
constexpr uint64_t kAcceptPauseMs = 100;

}  // namespace

void Reports::Add(Notice notice) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    notices_.push_back(std::move(notice));
  }
  Wake();
}

std::vector<Notice> Reports::Take() {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<Notice> taken;
  taken.swap(notices_);
  return taken;
}

RelayLoop::RelayLoop(const Target& target, Reports& reports) : target_(target), reports_(reports) {}

RelayLoop::~RelayLoop() { Stop(); }

int RelayLoop::Start(std::string name) {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return errno;
  if (int status = uv_loop_init(&loop_); status < 0) return -status;
  loop_ready_ = true;
  uv_poll_init(&loop_, &poll_, epoll_fd_);
  uv_timer_init(&loop_, &dial_timer_);
  uv_async_init(&loop_, &message_, &RelayLoop::OnMessage);
  uv_timer_init(&loop_, &accept_timer_);
  for (uv_handle_t* handle : {reinterpret_cast<uv_handle_t*>(&poll_),
                              reinterpret_cast<uv_handle_t*>(&dial_timer_),
                              reinterpret_cast<uv_handle_t*>(&message_),
                              reinterpret_cast<uv_handle_t*>(&accept_timer_)}) {
    handle->data = this;
  }
  uv_poll_start(&poll_, UV_READABLE, &RelayLoop::OnReadable);
  scratch_.reset(new char[kBufferBytes]);
  // Named before Start returns, so that top, perf and the tests can tell the
  // loops apart from the start. The thread names itself with prctl and says
  // so through a libuv semaphore: pthread_setname_np, std::promise and
  // std::condition_variable bring in GLIBC_2.32/2.34 and GLIBCXX_3.4.30
  // symbols where this is built, and the prebuilt addon must load on glibc 2.31.
  uv_sem_t named;
  if (int status = uv_sem_init(&named, 0); status < 0) return -status;
  try {
    thread_ = std::thread([this, name, &named] {
      prctl(PR_SET_NAME, name.c_str(), 0, 0, 0);
      uv_sem_post(&named);
      // The open async handle keeps the loop running until Stop closes it.
      uv_run(&loop_, UV_RUN_DEFAULT);
    });
  } catch (const std::system_error& error) {
    uv_sem_destroy(&named);
    return error.code().value();
  }
  uv_sem_wait(&named);
  uv_sem_destroy(&named);
  return 0;
}

void RelayLoop::Listen(int fd) {
  if (!thread_.joinable()) return;
  std::unique_lock<std::mutex> lock(mutex_);
  listen_wanted_ = fd;
  const uint64_t wanted = ++listens_wanted_;
  uv_async_send(&message_);
  done_.wait(lock, [&] { return listens_done_ >= wanted; });
}

void RelayLoop::Hand(int fd) {
  open_.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    arrivals_.push_back(fd);
  }
  uv_async_send(&message_);
}

void RelayLoop::ResetAll() {
  if (!thread_.joinable()) return;
  std::unique_lock<std::mutex> lock(mutex_);
  const uint64_t wanted = ++resets_wanted_;
  uv_async_send(&message_);
  done_.wait(lock, [&] { return resets_done_ >= wanted; });
}

void RelayLoop::Stop() {
  if (thread_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_wanted_ = true;
    }
    uv_async_send(&message_);
    // Returns once the handles are closed and any name lookup still under
    // way has come back (its callback only frees it).
    thread_.join();
  } else if (loop_ready_) {
    // Never started: the handles are closed here instead.
    for (uv_handle_t* handle : {reinterpret_cast<uv_handle_t*>(&poll_),
                                reinterpret_cast<uv_handle_t*>(&dial_timer_),
                                reinterpret_cast<uv_handle_t*>(&message_),
                                reinterpret_cast<uv_handle_t*>(&accept_timer_)}) {
      uv_close(handle, nullptr);
    }
    uv_run(&loop_, UV_RUN_DEFAULT);
  }
  if (loop_ready_) {
    uv_loop_close(&loop_);
    loop_ready_ = false;
  }
  if (epoll_fd_ >= 0) {
    close(epoll_fd_);
    epoll_fd_ = -1;
  }
}

void RelayLoop::OnMessage(uv_async_t* async) {
  auto* self = static_cast<RelayLoop*>(async->data);
  std::vector<int> arrivals;
  uint64_t resets;
  uint64_t listens;
  int listen_fd;
  bool stop;
  {
    std::lock_guard<std::mutex> lock(self->mutex_);
    arrivals.swap(self->arrivals_);
    resets = self->resets_wanted_;
    listens = self->listens_wanted_;
    listen_fd = self->listen_wanted_;
    stop = self->stop_wanted_;
  }
  if (listens > self->listens_done_) {
    // Told to stop, or stopping: this loop no longer touches the socket
    // once the JS thread hears back, so it may close it.
    if (self->listen_fd_ >= 0) self->WatchListener(false);
    uv_timer_stop(&self->accept_timer_);
    self->listen_fd_ = stop ? -1 : listen_fd;
    if (self->listen_fd_ >= 0) self->WatchListener(true);
    {
      std::lock_guard<std::mutex> lock(self->mutex_);
      self->listens_done_ = listens;
    }
    self->done_.notify_all();
  }
  for (int fd : arrivals) self->TakeConnection(fd);
  if (stop || resets > self->resets_done_) self->ResetConnections();
  self->AfterBatch();
  if (resets > self->resets_done_) {
    {
      std::lock_guard<std::mutex> lock(self->mutex_);
      self->resets_done_ = resets;
    }
    self->done_.notify_all();
  }
  if (stop) {
    if (self->listen_fd_ >= 0) self->WatchListener(false);
    self->listen_fd_ = -1;
    uv_poll_stop(&self->poll_);
    uv_timer_stop(&self->dial_timer_);
    uv_timer_stop(&self->accept_timer_);
    uv_close(reinterpret_cast<uv_handle_t*>(&self->poll_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&self->dial_timer_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&self->message_), nullptr);
    uv_close(reinterpret_cast<uv_handle_t*>(&self->accept_timer_), nullptr);
  }
}

void RelayLoop::Accept() {
  for (int i = 0; i < kAcceptsPerTurn && listen_fd_ >= 0; i++) {
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      const int errnum = errno;
      // Nothing queued, or another loop was first.
      if (errnum == EAGAIN || errnum == EWOULDBLOCK) return;
      // Failures of one connection that has gone already.
      if (errnum == EINTR || errnum == ECONNABORTED || errnum == EPROTO || errnum == EPERM) {
        continue;
      }
      PauseAccepting(errnum);
      return;
    }
    RelayLoop* to = Lighter();
    if (to != this) {
      to->Hand(fd);
      continue;
    }
    open_.fetch_add(1, std::memory_order_relaxed);
    TakeConnection(fd);
  }
}

RelayLoop* RelayLoop::Lighter() {
  const int64_t mine = open();
  RelayLoop* lightest = this;
  int64_t least = mine;
  for (const auto& peer : *peers_) {
    const int64_t theirs = peer->open();
    if (theirs < least) {
      least = theirs;
      lightest = peer.get();
    }
  }
  // Handing over wakes another thread, so only for a difference that
  // matters: always while few are open (a few long streams must spread
  // over the cores), beyond an eighth of this loop's connections after.
  return (mine - least) * 8 > mine ? lightest : this;
}

void RelayLoop::WatchListener(bool on) {
  if (on == listener_watched_) return;
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.ptr = &listener_tag_;
  if (epoll_ctl(epoll_fd_, on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, listen_fd_, &event) == 0) {
    listener_watched_ = on;
  }
}

void RelayLoop::PauseAccepting(int errnum) {
  WatchListener(false);
  reports_.Add({Notice::kAcceptError, ErrnoName(errnum),
                std::string("accept: ") + std::strerror(errnum)});
  uv_timer_start(&accept_timer_, &RelayLoop::OnAcceptTimer, kAcceptPauseMs, 0);
}

void RelayLoop::OnAcceptTimer(uv_timer_t* timer) {
  auto* self = static_cast<RelayLoop*>(timer->data);
  if (self->listen_fd_ >= 0) self->WatchListener(true);
}

void RelayLoop::TakeConnection(int fd) {
  // No TuneSocket(fd): Linux copies the listener's options to every socket
  // it accepts, which saves four system calls per connection.
  auto* c = new Connection();
  c->client.fd = fd;
  c->client.connection = c;
  c->target.connection = c;
  connections_.insert(c);
  Count(kAccepted, 1);
  Count(kActiveInbound, 1);
  // Watched with no events: epoll still reports an error or hang-up,
  // which is how a client leaving during the dial is noticed.
  Watch(c->client, 0);
  StartDial(c);
}

void RelayLoop::ResetConnections() {
  const std::vector<Connection*> all(connections_.begin(), connections_.end());
  for (Connection* c : all) {
    CloseSide(c->client, true);
    CloseSide(c->target, true);
    Finish(c);
  }
}

void RelayLoop::OnReadable(uv_poll_t* poll, int status, int /*events*/) {
  auto* self = static_cast<RelayLoop*>(poll->data);
  if (status < 0) return;
  epoll_event events[kEventsPerWait];
  const int count = epoll_wait(self->epoll_fd_, events, kEventsPerWait, 0);
  for (int i = 0; i < count; i++) {
    if (events[i].data.ptr == &self->listener_tag_) {
      self->Accept();
    } else {
      self->HandleEvent(static_cast<Side*>(events[i].data.ptr), events[i].events);
    }
  }
  // More than one batch waiting: epoll stays readable, so libuv calls again.
  self->AfterBatch();
}

void RelayLoop::HandleEvent(Side* side, uint32_t events) {
  Connection* c = side->connection;
  // A connection finished earlier in this batch; its memory waits for AfterBatch.
  if (c->state == Connection::State::kClosed || side->fd < 0) return;
  if (c->state != Connection::State::kRelaying) {
    if (side == &c->target) {
      OnConnectDone(c, events);
    } else if (events & (EPOLLERR | EPOLLHUP)) {
      // The client left while the dial was pending: the dial goes with it.
      // A reset stays a reset: the target may have accepted already (its
      // connect done in the kernel, not yet seen here), and must not take a
      // client's reset for an ordinary close.
      const bool reset = (events & EPOLLERR) != 0;
      CloseSide(c->client, reset);
      CloseSide(c->target, reset);
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

void RelayLoop::AfterBatch() {
  for (Connection* c : finished_) delete c;
  finished_.clear();
}

}  // namespace relay
