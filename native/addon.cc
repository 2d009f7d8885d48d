// Entry point of the conntrack addon. Argument checking and defaults live in
// src/conntrack/ (the only caller); this layer trusts it.
#include <napi.h>

#include "dump.h"
#include "events.h"
#include "lookup.h"
#include "netns.h"
#include "record.h"
#include "relay.h"

namespace {

// releaseRecords(buffer): frees a dump's records now rather than when the
// garbage collector gets to the buffer, which for a buffer that lived
// through a long read of the table can be minutes later.
Napi::Value ReleaseRecords(const Napi::CallbackInfo& info) {
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  if (buffer.ByteLength() > 0) buffer.Detach();
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("dump", Napi::Function::New(env, conntrack::Dump, "dump"));
  exports.Set("lookup", Napi::Function::New(env, conntrack::Lookup, "lookup"));
  exports.Set("EventStream", conntrack::EventStream::Define(env));
  exports.Set("releaseRecords", Napi::Function::New(env, ReleaseRecords, "releaseRecords"));
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
