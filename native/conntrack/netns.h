// Watching another network namespace (--netns): the addon enters it only
// while it opens a socket or file, which then stays bound to that
// namespace, and returns to its own at once. Needs CAP_SYS_ADMIN (setns).
#pragma once

#include <napi.h>

#include "errors.h"

namespace conntrack {

// Enters the target namespace, if one was chosen, for its lifetime.
class NetnsScope {
 public:
  explicit NetnsScope(const char* context);
  ~NetnsScope();
  NetnsScope(const NetnsScope&) = delete;
  NetnsScope& operator=(const NetnsScope&) = delete;

  const SystemError& error() const { return error_; }

 private:
  int own_ = -1;
  SystemError error_;
};

// useNetns(path): every later socket and file of the addon is opened in the
// network namespace at `path` (e.g. /var/run/netns/NAME, /proc/PID/ns/net).
Napi::Value UseNetns(const Napi::CallbackInfo& info);
// interfaceAddresses(): the addresses of the watched namespace's interfaces.
Napi::Value InterfaceAddresses(const Napi::CallbackInfo& info);
// addressesChanged(): whether the watched namespace's interfaces or their
// addresses may have changed since the last call (rtnetlink's notices, no
// read of them); true at the first call, after lost notices, and at every
// call if the notices cannot be had.
Napi::Value AddressesChanged(const Napi::CallbackInfo& info);
// readNetnsFile(path): a file (e.g. /proc/sys/net/...) as the watched namespace shows it.
Napi::Value ReadNetnsFile(const Napi::CallbackInfo& info);

}  // namespace conntrack
