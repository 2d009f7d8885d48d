#include "errors.h"

#include <cstring>

namespace conntrack {

Napi::Error SystemError::ToJs(Napi::Env env) const {
  Napi::Error error = Napi::Error::New(env, context + ": " + std::strerror(errnum));
  error.Set("errno", Napi::Number::New(env, errnum));
  const char* name = strerrorname_np(errnum);
  error.Set("code", Napi::String::New(env, name != nullptr ? name : "EUNKNOWN"));
  error.Set("syscall", Napi::String::New(env, context));
  return error;
}

}  // namespace conntrack
