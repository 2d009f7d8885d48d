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

// check(keys: string): keys as lookup() takes them, each followed by
// "|id", the kernel id of the connection known under that tuple.
// Promise<ArrayBuffer> of one byte per key, in order: the entry's TCP state
// (TCP_CONNTRACK_*, or 0xff for none) if it is still that connection, or
// 0xfe when it is gone or its tuple now belongs to another connection. The
// same requests as lookup(), without packing or decoding any entry.
Napi::Value Check(const Napi::CallbackInfo& info);

}  // namespace conntrack
