#include "netns.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

namespace conntrack {
namespace {

// The namespace chosen with useNetns(); -1 for the process's own. Set once
// at start-up, before any worker thread reads it.
int target_netns = -1;

// The rtnetlink socket that hears of address and link changes (see
// AddressesChanged); -1 until the first call, or for good if it could not
// be opened.
int address_watch = -1;
bool address_watch_tried = false;

int OpenAddressWatch() {
  NetnsScope scope("addressesChanged");
  if (scope.error().failed()) return -1;
  const int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -1;
  sockaddr_nl address{};
  address.nl_family = AF_NETLINK;
  // Links too: an interface going down takes its addresses out of
  // Node's list (os.networkInterfaces) without an address message.
  address.nl_groups = RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
  if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

NetnsScope::NetnsScope(const char* context) {
  if (target_netns < 0) return;
  own_ = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (own_ < 0) {
    error_ = {std::string(context) + ": open(/proc/thread-self/ns/net)", errno};
    return;
  }
  if (setns(target_netns, CLONE_NEWNET) < 0) {
    error_ = {std::string(context) + ": setns", errno};
    close(own_);
    own_ = -1;
  }
}

NetnsScope::~NetnsScope() {
  if (own_ < 0) return;
  // Going back cannot fail for a namespace we were in a moment ago.
  setns(own_, CLONE_NEWNET);
  close(own_);
}

Napi::Value UseNetns(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string path = info[0].As<Napi::String>();
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw SystemError{"open(" + path + ")", errno}.ToJs(env);
  // Entering once proves both that it is a network namespace and that we may.
  const int own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (own < 0 || setns(fd, CLONE_NEWNET) < 0) {
    const int error = errno;
    close(fd);
    if (own >= 0) close(own);
    throw SystemError{"setns(" + path + ")", error}.ToJs(env);
  }
  setns(own, CLONE_NEWNET);
  close(own);
  if (target_netns >= 0) close(target_netns);
  target_netns = fd;
  return env.Undefined();
}

Napi::Value InterfaceAddresses(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ifaddrs* list = nullptr;
  {
    NetnsScope scope("interfaceAddresses");
    if (scope.error().failed()) throw scope.error().ToJs(env);
    if (getifaddrs(&list) < 0) throw SystemError{"getifaddrs", errno}.ToJs(env);
  }
  Napi::Array addresses = Napi::Array::New(env);
  uint32_t count = 0;
  for (ifaddrs* item = list; item != nullptr; item = item->ifa_next) {
    if (item->ifa_addr == nullptr) continue;
    char text[INET6_ADDRSTRLEN];
    const int family = item->ifa_addr->sa_family;
    const void* address =
        family == AF_INET    ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(item->ifa_addr)->sin_addr)
        : family == AF_INET6 ? static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(item->ifa_addr)->sin6_addr)
                             : nullptr;
    if (address == nullptr || inet_ntop(family, address, text, sizeof text) == nullptr) continue;
    addresses.Set(count++, Napi::String::New(env, text));
  }
  freeifaddrs(list);
  return addresses;
}

Napi::Value AddressesChanged(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!address_watch_tried) {
    // Opened before the caller's first read of the addresses, so that no
    // change between the two goes unheard.
    address_watch_tried = true;
    address_watch = OpenAddressWatch();
    return Napi::Boolean::New(env, true);
  }
  // Without the socket, every call says "read them again".
  if (address_watch < 0) return Napi::Boolean::New(env, true);
  bool changed = false;
  char buffer[8192];
  for (;;) {
    const ssize_t n = recv(address_watch, buffer, sizeof buffer, MSG_DONTWAIT);
    if (n > 0) {
      changed = true;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
    // ENOBUFS: messages were lost, so anything may have changed; read on
    // to empty the queue. Anything else: say changed, and next time again.
    changed = true;
    if (n < 0 && errno == ENOBUFS) continue;
    break;
  }
  return Napi::Boolean::New(env, changed);
}

Napi::Value ReadNetnsFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string path = info[0].As<Napi::String>();
  int fd;
  {
    // A /proc/sys/net file shows the namespace of whoever opened it.
    NetnsScope scope("readNetnsFile");
    if (scope.error().failed()) throw scope.error().ToJs(env);
    fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  }
  if (fd < 0) throw SystemError{"open(" + path + ")", errno}.ToJs(env);
  std::string content;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof buffer)) > 0) content.append(buffer, static_cast<size_t>(n));
  const int error = errno;
  close(fd);
  if (n < 0) throw SystemError{"read(" + path + ")", error}.ToJs(env);
  return Napi::String::New(env, content);
}

}  // namespace conntrack
