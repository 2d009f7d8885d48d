#pragma once

#include <napi.h>

namespace conntrack {

// lookup(tuples: [family, src, srcPort, dst, dstPort, zone][]):
// Promise<ArrayBuffer> of packed records (see record.h), one per tuple that
// is in the table now, in no particular order; a tuple that is not is left
// out. Each is one IPCTNL_MSG_CT_GET by original tuple, on a worker thread.
// Read-only. The TS layer checks the tuples; a malformed one throws here.
Napi::Value Lookup(const Napi::CallbackInfo& info);

}  // namespace conntrack
