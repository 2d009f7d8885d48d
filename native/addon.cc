// Entry point of the conntrack addon. Argument checking and defaults live in
// src/conntrack/ (the only caller); this layer trusts it.
#include <napi.h>

#include "dump.h"
#include "events.h"
#include "netns.h"
#include "record.h"
#include "relay.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("dump", Napi::Function::New(env, conntrack::Dump, "dump"));
  exports.Set("EventStream", conntrack::EventStream::Define(env));
  exports.Set("useNetns", Napi::Function::New(env, conntrack::UseNetns, "useNetns"));
  exports.Set("interfaceAddresses",
              Napi::Function::New(env, conntrack::InterfaceAddresses, "interfaceAddresses"));
  exports.Set("readNetnsFile", Napi::Function::New(env, conntrack::ReadNetnsFile, "readNetnsFile"));
  conntrack::TcpRelay::Export(env, exports);
  exports.Set("recordSize", Napi::Number::New(env, conntrack::kRecordSize));
  exports.Set("libraryVersion", Napi::String::New(env, LIBNETFILTER_CONNTRACK_VERSION));
  return exports;
}

}  // namespace

NODE_API_MODULE(conntrack, Init)
