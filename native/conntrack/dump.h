#pragma once

#include <napi.h>

namespace conntrack {

// dump(): Promise<ArrayBuffer> of packed records (see record.h), one per TCP
// entry of the calling thread's network namespace. Read-only: it only ever
// issues NFCT_Q_DUMP.
Napi::Value Dump(const Napi::CallbackInfo& info);

}  // namespace conntrack
