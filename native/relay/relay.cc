#include "relay.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>

#include "../conntrack/errors.h"
#include "relay-connection.h"

namespace relay {

// The addon's one way of turning an errno into a JS error (code, errno, syscall).
using conntrack::SystemError;

// Owned by libuv once started: freed in the close callbacks, after the
// relay may be gone.
struct RelayHandles {
  uv_loop_t* loop = nullptr;
  uv_async_t reports;  // the loops' reports
  TcpRelay* owner = nullptr;
  int open_handles = 0;
  napi_async_cleanup_hook_handle hook = nullptr;
};

namespace {

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
                         InstanceMethod("readCounters", &TcpRelay::ReadCounters),
                         InstanceMethod("close", &TcpRelay::Close),
                         InstanceAccessor("openConnections", &TcpRelay::OpenConnections, nullptr),
                     });
}

TcpRelay::TcpRelay(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TcpRelay>(info) {
  Napi::Env env = info.Env();
  target_.host = info[0].As<Napi::String>().Utf8Value();
  target_.service = std::to_string(info[1].As<Napi::Number>().Uint32Value());
  target_.dial_timeout_ms = static_cast<uint64_t>(info[2].As<Napi::Number>().Int64Value());
  target_.count_bytes = info[3].As<Napi::Boolean>().Value();
  const uint32_t workers = info[4].As<Napi::Number>().Uint32Value();
  on_dial_failure_ = Napi::Persistent(info[5].As<Napi::Function>());
  on_accept_error_ = Napi::Persistent(info[6].As<Napi::Function>());
  on_idle_ = Napi::Persistent(info[7].As<Napi::Function>());
  context_ = std::make_unique<Napi::AsyncContext>(env, "conntrack.relay");

  // An IP literal needs no resolver: one fixed address list of one entry.
  auto* storage = new char[sizeof(sockaddr_in6)]();
  target_.literal_address.reset(storage);
  auto* in = reinterpret_cast<sockaddr_in*>(storage);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(storage);
  const uint16_t port = htons(static_cast<uint16_t>(std::stoi(target_.service)));
  if (inet_pton(AF_INET, target_.host.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = port;
    target_.literal.reset(new addrinfo{0, AF_INET, SOCK_STREAM, 0, sizeof(sockaddr_in),
                                       reinterpret_cast<sockaddr*>(storage), nullptr, nullptr});
  } else if (inet_pton(AF_INET6, target_.host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = port;
    target_.literal.reset(new addrinfo{0, AF_INET6, SOCK_STREAM, 0, sizeof(sockaddr_in6),
                                       reinterpret_cast<sockaddr*>(storage), nullptr, nullptr});
  }

  uv_loop_t* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    throw SystemError{"napi_get_uv_event_loop", EINVAL}.ToJs(env);
  }
  auto* handles = new RelayHandles();
  handles->owner = this;
  handles->loop = loop;
  handles_ = handles;
  uv_async_init(loop, &handles->reports, &TcpRelay::OnReports);
  handles->reports.data = handles;
  handles->open_handles++;
  // Only an active relay keeps the process alive (UpdateActive).
  uv_unref(reinterpret_cast<uv_handle_t*>(&handles->reports));
  if (napi_add_async_cleanup_hook(env, &TcpRelay::OnEnvTeardown, handles, &handles->hook) !=
      napi_ok) {
    handles->hook = nullptr;
  }
  reports_ = std::make_unique<Reports>(&handles->reports);
  for (uint32_t i = 0; i < workers; i++) {
    loops_.push_back(std::make_unique<RelayLoop>(target_, *reports_));
    loops_.back()->SetPeers(&loops_);
    if (int errnum = loops_.back()->Start("relay-" + std::to_string(i)); errnum != 0) {
      Shutdown();
      throw SystemError{"relay thread", errnum}.ToJs(env);
    }
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
  if (listen_fd_ >= 0 || listened_ || handles_ == nullptr) {
    throw SystemError{"listen", EALREADY}.ToJs(env);
  }

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
  listen_fd_ = fd;
  listened_ = true;
  for (auto& loop : loops_) loop->Listen(fd);
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

int64_t TcpRelay::Open() const {
  int64_t open = 0;
  for (const auto& loop : loops_) open += loop->open();
  return open;
}

Napi::Value TcpRelay::OpenConnections(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(Open()));
}

Napi::Value TcpRelay::NotifyWhenIdle(const Napi::CallbackInfo& info) {
  idle_wanted_ = true;
  AfterBatch();
  return info.Env().Undefined();
}

Napi::Value TcpRelay::ResetAll(const Napi::CallbackInfo& info) {
  for (const auto& loop : loops_) loop->ResetAll();
  AfterBatch();
  return info.Env().Undefined();
}

Napi::Value TcpRelay::ReadCounters(const Napi::CallbackInfo& info) {
  Napi::Float64Array into = info[0].As<Napi::Float64Array>();
  const size_t length = std::min<size_t>(into.ElementLength(), kCounterCount);
  for (size_t i = 0; i < length; i++) {
    double sum = retired_[i];
    for (const auto& loop : loops_) sum += loop->count(static_cast<int>(i));
    into[i] = sum;
  }
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

void TcpRelay::OnReports(uv_async_t* async) {
  TcpRelay* self = static_cast<RelayHandles*>(async->data)->owner;
  if (self == nullptr) return;
  Napi::HandleScope scope(self->Env());
  self->AfterBatch();
}

void TcpRelay::StopListening() {
  if (listen_fd_ < 0) return;
  // Every loop lets go of the socket before it is closed: a number reused
  // by the next socket opened must not be accepted from.
  for (auto& loop : loops_) loop->Listen(-1);
  close(listen_fd_);
  listen_fd_ = -1;
}

void TcpRelay::AfterBatch() {
  // Idleness first, then the notices: a connection's failure is reported
  // before its end, so an idle seen here comes with every failure before it
  // (taken the other way round, a dial failing in between was idle before
  // it was counted).
  const bool idle = idle_wanted_ && Open() == 0;
  if (idle) idle_wanted_ = false;
  std::vector<Notice> notices;
  if (reports_ != nullptr) notices = reports_->Take();
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

// While it listens or carries a connection, the relay keeps the JS loop
// (and itself) alive; after that, it is an ordinary object. A loop
// reports when its last connection ends, so this runs again then.
void TcpRelay::UpdateActive() {
  const bool active = handles_ != nullptr && (listen_fd_ >= 0 || Open() > 0);
  if (active == active_) return;
  active_ = active;
  auto* reports = reinterpret_cast<uv_handle_t*>(&handles_->reports);
  if (active) {
    uv_ref(reports);
    Ref();
  } else {
    uv_unref(reports);
    Unref();
  }
}

void TcpRelay::OnEnvTeardown(napi_async_cleanup_hook_handle /*hook*/, void* arg) {
  TcpRelay* owner = static_cast<RelayHandles*>(arg)->owner;
  if (owner != nullptr) owner->Shutdown();
}

void TcpRelay::Shutdown() {
  StopListening();
  // Not reported to JS: the callbacks may be gone at teardown.
  for (auto& loop : loops_) {
    loop->Stop();
    for (int i = 0; i < kCounterCount; i++) {
      // The gauges are zero once its connections are reset.
      if (i != kActiveInbound && i != kActiveOutbound) retired_[i] += loop->count(i);
    }
  }
  loops_.clear();
  if (handles_ != nullptr) {
    handles_->owner = nullptr;
    uv_close(reinterpret_cast<uv_handle_t*>(&handles_->reports), OnHandleClosed);
    handles_ = nullptr;
  }
  reports_.reset();
}

}  // namespace relay
