#pragma once

#include <napi.h>

namespace conntrack {

// kernelStats(): an ArrayBuffer holding the kernel's answer to a
// ctnetlink IPCTNL_MSG_CT_GET_STATS_CPU dump in the watched namespace, as it
// arrived: one netlink message per CPU (nlmsghdr, nfgenmsg with the CPU in
// res_id, then CTA_STATS_* attributes), each padded to NLMSG_ALIGNTO.
// Decoded and summed in src/conntrack/kernel-stats.ts, where the attributes
// are named (what a kernel sends varies by version). Read-only: the request
// is a GET; it changes nothing in the kernel. Throws the system error
// (EPERM without CAP_NET_ADMIN...).
Napi::Value KernelStats(const Napi::CallbackInfo& info);

}  // namespace conntrack
