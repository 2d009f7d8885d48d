#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "get-worker.h"

namespace conntrack {

// The entries that send no events (nf_conntrack_events=2, opened before the
// subscription), checked in rounds in the background: JS hands the list
// over once per read of the table, names the entries events mention, and
// sees only what changed. The work per entry checked (choosing it, asking
// the kernel, comparing the answer) stays here.
//
//   new SilentList()
//   replace(lines): the whole list, lines "key|id|state" (identityKey, the
//     kernel id, the TCP state or 255); a new round starts. A malformed line
//     throws and leaves the list as it was.
//   forget(key): the entry sends events now; it is no longer checked.
//     Returns the size after.
//   check(count): Promise<{changes, checked, wrapped}> for the next `count`
//     entries of the round: `changes` lines "key|id|state" of those whose
//     TCP state changed, or "key|id|254" for those gone (or whose tuple is
//     another connection's now), which leave the list. `wrapped`: the check
//     reached the end of the list, and the next one starts a new round from
//     its beginning. One check at a time.
//   rewind(): the next check starts a new round.
//   size: entries listed; remaining: those not yet checked this round.
//   keys(): the keys listed, one per line.
//
// Read-only towards the kernel, like check().
class SilentList : public Napi::ObjectWrap<SilentList> {
 public:
  static Napi::Function Define(Napi::Env env);

  explicit SilentList(const Napi::CallbackInfo& info);

  // Back on the JS thread: the answers to the entries at `positions`.
  Napi::Value Apply(Napi::Env env, const std::vector<uint32_t>& positions,
                    const std::vector<uint8_t>& states, uint64_t generation, bool wrapped);
  void CheckEnded() { checking_ = false; }

 private:
  // 12 bytes: the tuple is parsed again from the line when the entry is
  // checked (a few hundred a second), so that a list of a million entries
  // after a restart holds its lines, this and an index slot, not a parsed
  // tuple and a hash map node per entry as well.
  struct Entry {
    uint32_t key_at;  // in text_
    uint16_t key_length;
    uint8_t id_length;  // the "|id" after the key, without the bar
    uint8_t state;
    bool live;
  };
  // An empty slot of the index.
  static constexpr uint32_t kNoEntry = UINT32_MAX;

  Napi::Value Replace(const Napi::CallbackInfo& info);
  Napi::Value Forget(const Napi::CallbackInfo& info);
  Napi::Value Check(const Napi::CallbackInfo& info);
  Napi::Value Keys(const Napi::CallbackInfo& info);
  Napi::Value Rewind(const Napi::CallbackInfo& info);
  Napi::Value Size(const Napi::CallbackInfo& info);
  Napi::Value Remaining(const Napi::CallbackInfo& info);

  std::string_view KeyOf(const Entry& entry) const {
    return std::string_view(text_).substr(entry.key_at, entry.key_length);
  }
  // "key|id", as replace() was given it.
  std::string_view KeyAndIdOf(const Entry& entry) const {
    return std::string_view(text_).substr(entry.key_at, entry.key_length + 1u + entry.id_length);
  }
  // The position of the live entry with this key, or kNoEntry.
  uint32_t Find(std::string_view key) const;
  void Drop(uint32_t position);
  // Drops the dead entries; only while no check is under way, since one
  // refers to entries by position.
  void Compact();
  void Index();

  // The lines replace() was given: the keys are read from it.
  std::string text_;
  std::vector<Entry> entries_;
  // Positions in entries_ by key: open addressing, linear probing, at most
  // half full (a map node per entry cost more than the entry). Dropped
  // entries keep their slot until the next Index(), so probing goes past them.
  std::vector<uint32_t> index_;
  uint32_t live_ = 0;
  // The round's position in entries_, and the live entries before it.
  uint32_t cursor_ = 0;
  uint32_t done_ = 0;
  // A check's answers apply to the list it was asked of.
  uint64_t generation_ = 0;
  bool checking_ = false;
};

}  // namespace conntrack
