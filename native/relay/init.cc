#include "init.h"

#include "relay.h"

namespace relay {

Napi::Object Init(Napi::Env env) {
  Napi::Object exports = Napi::Object::New(env);
  exports.Set("TcpRelay", TcpRelay::Define(env));
  Napi::Array names = Napi::Array::New(env, kCounterCount);
  for (uint32_t i = 0; i < kCounterCount; i++) names.Set(i, kCounterNames[i]);
  exports.Set("counterNames", names);
  exports.Set("bufferBytes", Napi::Number::New(env, kBufferBytes));
  return exports;
}

}  // namespace relay
