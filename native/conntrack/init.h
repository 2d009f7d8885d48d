#pragma once
// The conntrack binding: reading the table (dump, lookup), the event
// stream, and reading another network namespace. Typed and checked by
// src/conntrack/addon.ts, its only caller.
#include <napi.h>

namespace conntrack {

Napi::Object Init(Napi::Env env);

}  // namespace conntrack
