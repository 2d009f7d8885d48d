#include "record.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstring>

extern "C" {
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
}

namespace conntrack {
namespace {

template <typename T>
void Put(uint8_t* out, size_t offset, T value) {
  std::memcpy(out + offset, &value, sizeof(T));
}

void PutAddress(const nf_conntrack* ct, uint8_t family, int v4, int v6, uint8_t* out,
                size_t offset) {
  const void* address = nfct_get_attr(ct, static_cast<nf_conntrack_attr>(family == 4 ? v4 : v6));
  if (address != nullptr) std::memcpy(out + offset, address, family == 4 ? 4 : 16);
}

}  // namespace

bool PackEntry(const nf_conntrack* ct, uint8_t event_type, uint8_t* out) {
  if (!nfct_attr_is_set(ct, ATTR_L4PROTO) || nfct_get_attr_u8(ct, ATTR_L4PROTO) != IPPROTO_TCP) {
    return false;
  }
  const uint8_t l3 = nfct_get_attr_u8(ct, ATTR_L3PROTO);
  uint8_t family;
  if (l3 == AF_INET) {
    family = 4;
  } else if (l3 == AF_INET6) {
    family = 6;
  } else {
    return false;
  }

  std::memset(out, 0, kRecordSize);
  out[kFamily] = family;
  out[kTcpState] = nfct_attr_is_set(ct, ATTR_TCP_STATE) ? nfct_get_attr_u8(ct, ATTR_TCP_STATE)
                                                        : kNoTcpState;
  out[kEventType] = event_type;
  Put<uint32_t>(out, kStatus, nfct_get_attr_u32(ct, ATTR_STATUS));
  Put<uint32_t>(out, kMark, nfct_get_attr_u32(ct, ATTR_MARK));
  Put<uint32_t>(out, kId, nfct_get_attr_u32(ct, ATTR_ID));
  Put<uint32_t>(out, kTimeout, nfct_get_attr_u32(ct, ATTR_TIMEOUT));
  Put<uint16_t>(out, kZone, nfct_get_attr_u16(ct, ATTR_ZONE));
  Put<uint16_t>(out, kOrigSrcPort, ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_SRC)));
  Put<uint16_t>(out, kOrigDstPort, ntohs(nfct_get_attr_u16(ct, ATTR_ORIG_PORT_DST)));
  Put<uint16_t>(out, kReplSrcPort, ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_SRC)));
  Put<uint16_t>(out, kReplDstPort, ntohs(nfct_get_attr_u16(ct, ATTR_REPL_PORT_DST)));
  PutAddress(ct, family, ATTR_ORIG_IPV4_SRC, ATTR_ORIG_IPV6_SRC, out, kOrigSrc);
  PutAddress(ct, family, ATTR_ORIG_IPV4_DST, ATTR_ORIG_IPV6_DST, out, kOrigDst);
  PutAddress(ct, family, ATTR_REPL_IPV4_SRC, ATTR_REPL_IPV6_SRC, out, kReplSrc);
  PutAddress(ct, family, ATTR_REPL_IPV4_DST, ATTR_REPL_IPV6_DST, out, kReplDst);

  uint8_t flags = 0;
  if (nfct_attr_is_set(ct, ATTR_ORIG_COUNTER_PACKETS)) {
    flags |= kHasCounters;
    Put<uint64_t>(out, kOrigPackets, nfct_get_attr_u64(ct, ATTR_ORIG_COUNTER_PACKETS));
    Put<uint64_t>(out, kOrigBytes, nfct_get_attr_u64(ct, ATTR_ORIG_COUNTER_BYTES));
    Put<uint64_t>(out, kReplPackets, nfct_get_attr_u64(ct, ATTR_REPL_COUNTER_PACKETS));
    Put<uint64_t>(out, kReplBytes, nfct_get_attr_u64(ct, ATTR_REPL_COUNTER_BYTES));
  }
  if (nfct_attr_is_set(ct, ATTR_TIMESTAMP_START)) {
    flags |= kHasTimestamp;
    Put<uint64_t>(out, kStartNs, nfct_get_attr_u64(ct, ATTR_TIMESTAMP_START));
  }
  out[kFlags] = flags;
  return true;
}

}  // namespace conntrack
