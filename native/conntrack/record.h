// One conntrack entry packed into a fixed-size record, so a whole table
// crosses into JS as one ArrayBuffer instead of one JS object per entry.
// src/conntrack/record.ts decodes this layout; kRecordSize is exported to JS
// and checked there, so the two cannot drift apart silently.
//
// Multi-byte fields are in host byte order (ports included); addresses are
// in network order, IPv4 in the first 4 bytes of the 16-byte slot.
#pragma once

#include <cstddef>
#include <cstdint>

struct nf_conntrack;

namespace conntrack {

constexpr size_t kRecordSize = 136;

// Offsets, in bytes, of each field in a record.
enum RecordOffset : size_t {
  kFamily = 0,        // u8: 4 or 6
  kTcpState = 1,      // u8: TCP_CONNTRACK_*, or kNoTcpState
  kFlags = 2,         // u8: kHasCounters | kHasTimestamp
  kEventType = 3,     // u8: 0 for a dump; NEW/UPDATE/DESTROY for events
  kStatus = 4,        // u32: IPS_* bits
  kMark = 8,          // u32
  kId = 12,           // u32
  kTimeout = 16,      // u32: seconds left
  kZone = 20,         // u16
  kOrigSrcPort = 22,  // u16
  kOrigDstPort = 24,  // u16
  kReplSrcPort = 26,  // u16
  kReplDstPort = 28,  // u16
  kOrigSrc = 32,      // 16 bytes
  kOrigDst = 48,      // 16 bytes
  kReplSrc = 64,      // 16 bytes
  kReplDst = 80,      // 16 bytes
  kOrigPackets = 96,  // u64
  kOrigBytes = 104,   // u64
  kReplPackets = 112, // u64
  kReplBytes = 120,   // u64
  kStartNs = 128,     // u64: nf_conntrack_timestamp start, ns since the epoch
};

constexpr uint8_t kNoTcpState = 0xff;
constexpr uint8_t kHasCounters = 1;
constexpr uint8_t kHasTimestamp = 2;

// Returns false (and writes nothing) for anything but TCP over IPv4/IPv6.
bool PackEntry(const nf_conntrack* ct, uint8_t event_type, uint8_t* out);

}  // namespace conntrack
