#pragma once

#include <napi.h>

namespace conntrack {

// lookup(keys: string): keys "family|src|srcPort|dst|dstPort|zone" (the
// original tuple and zone), one per line. Promise<ArrayBuffer> of packed
// records (see record.h), one per key that is in the table now, in no
// particular order; a key that is not is left out. Each is one
// IPCTNL_MSG_CT_GET, many per system call, on a worker thread. Read-only.
// A malformed key throws here.
Napi::Value Lookup(const Napi::CallbackInfo& info);

}  // namespace conntrack
