#include "init.h"

#include "dump.h"
#include "events.h"
#include "kernel-stats.h"
#include "lookup.h"
#include "netns.h"
#include "record.h"
#include "silent-list.h"

namespace conntrack {

namespace {

// releaseRecords(buffer): frees a dump's records now rather than when the
// garbage collector gets to the buffer, which for a buffer that lived
// through a long read of the table can be minutes later.
Napi::Value ReleaseRecords(const Napi::CallbackInfo& info) {
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  if (buffer.ByteLength() > 0) buffer.Detach();
  return info.Env().Undefined();
}

}  // namespace

Napi::Object Init(Napi::Env env) {
  Napi::Object exports = Napi::Object::New(env);
  exports.Set("dump", Napi::Function::New(env, Dump, "dump"));
  exports.Set("lookup", Napi::Function::New(env, Lookup, "lookup"));
  exports.Set("kernelStats", Napi::Function::New(env, KernelStats, "kernelStats"));
  exports.Set("check", Napi::Function::New(env, Check, "check"));
  exports.Set("EventStream", EventStream::Define(env));
  exports.Set("SilentList", SilentList::Define(env));
  exports.Set("releaseRecords", Napi::Function::New(env, ReleaseRecords, "releaseRecords"));
  exports.Set("useNetns", Napi::Function::New(env, UseNetns, "useNetns"));
  exports.Set("interfaceAddresses",
              Napi::Function::New(env, InterfaceAddresses, "interfaceAddresses"));
  exports.Set("addressesChanged",
              Napi::Function::New(env, AddressesChanged, "addressesChanged"));
  exports.Set("readNetnsFile", Napi::Function::New(env, ReadNetnsFile, "readNetnsFile"));
  exports.Set("recordSize", Napi::Number::New(env, kRecordSize));
  exports.Set("libraryVersion", Napi::String::New(env, LIBNETFILTER_CONNTRACK_VERSION));
  return exports;
}

}  // namespace conntrack
