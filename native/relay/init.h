#pragma once
// The proxy's relay (TcpRelay, its counter names and memory bound). Typed
// and checked by src/proxy/relay-addon.ts, its only caller.
#include <napi.h>

namespace relay {

Napi::Object Init(Napi::Env env);

}  // namespace relay
