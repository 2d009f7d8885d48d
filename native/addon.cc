// Entry point of the addon: one binary (conntrack.node) with two parts,
// each under its own name and with its own typed caller in src/:
//   conntrack  native/conntrack/, src/conntrack/addon.ts
//   relay      native/relay/,     src/proxy/relay-addon.ts
// Argument checking and defaults live in those callers; this layer trusts them.
#include <napi.h>

#include "conntrack/init.h"
#include "relay/init.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("conntrack", conntrack::Init(env));
  exports.Set("relay", relay::Init(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(conntrack, Init)
