#pragma once

#include <napi.h>

#include <string>

namespace conntrack {

// A failed libnetfilter_conntrack call, remembered off the JS thread and
// turned into a JS Error (with errno and code) on it.
struct SystemError {
  std::string context;  // e.g. "nfct_query(DUMP)"
  int errnum = 0;

  bool failed() const { return errnum != 0; }
  Napi::Error ToJs(Napi::Env env) const;
};

}  // namespace conntrack
