#include "silent-list.h"

#include <cstdint>
#include <cstring>
#include <functional>
#include <utility>

namespace conntrack {
namespace {

// Dead entries are dropped once they outnumber the live ones, so that a
// round does not walk many more entries than it checks.
bool WorthCompacting(size_t dead, size_t live) { return dead > 1024 && dead > live; }

// Checks entries of a SilentList; its answers go back to the list, on the
// JS thread, which keeps the list alive until then.
class SilentCheckWorker : public CheckWorker {
 public:
  SilentCheckWorker(Napi::Env env, std::vector<Wanted> wanted, SilentList* list,
                    std::vector<uint32_t> positions, uint64_t generation, bool wrapped)
      : CheckWorker(env, "check", std::move(wanted)),
        list_(list),
        keep_(Napi::Persistent(list->Value())),
        positions_(std::move(positions)),
        generation_(generation),
        wrapped_(wrapped) {}

  // After the promise settled, in success or failure, on the JS thread.
  ~SilentCheckWorker() override { list_->CheckEnded(); }

 protected:
  Napi::Value Result(Napi::Env env) override {
    return list_->Apply(env, positions_, states(), generation_, wrapped_);
  }

 private:
  SilentList* list_;
  Napi::ObjectReference keep_;
  std::vector<uint32_t> positions_;
  uint64_t generation_;
  bool wrapped_;
};

Napi::Object CheckResult(Napi::Env env, const std::string& changes, size_t checked,
                         bool wrapped) {
  Napi::Object result = Napi::Object::New(env);
  result.Set("changes", Napi::String::New(env, changes));
  result.Set("checked", Napi::Number::New(env, static_cast<double>(checked)));
  result.Set("wrapped", Napi::Boolean::New(env, wrapped));
  return result;
}

}  // namespace

Napi::Function SilentList::Define(Napi::Env env) {
  return DefineClass(env, "SilentList",
                     {
                         InstanceMethod("replace", &SilentList::Replace),
                         InstanceMethod("forget", &SilentList::Forget),
                         InstanceMethod("check", &SilentList::Check),
                         InstanceMethod("keys", &SilentList::Keys),
                         InstanceMethod("rewind", &SilentList::Rewind),
                         InstanceAccessor("size", &SilentList::Size, nullptr),
                         InstanceAccessor("remaining", &SilentList::Remaining, nullptr),
                     });
}

SilentList::SilentList(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SilentList>(info) {}

Napi::Value SilentList::Replace(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string text = info[0].As<Napi::String>().Utf8Value();
  std::vector<Entry> entries;
  const char* const begin = text.data();
  const char* const end = begin + text.size();
  for (const char* line = begin; line < end;) {
    const char* stop = static_cast<const char*>(std::memchr(line, '\n', end - line));
    if (stop == nullptr) stop = end;
    Entry entry = {};
    const char* bar = stop;
    while (bar > line && bar[-1] != '|') bar--;
    unsigned state = 0;
    bool valid = bar > line && bar < stop && stop - bar <= 3;
    for (const char* c = bar; valid && c < stop; c++) {
      valid = *c >= '0' && *c <= '9';
      state = state * 10 + static_cast<unsigned>(*c - '0');
    }
    Wanted parsed{};
    if (valid) valid = state <= 0xff && ParseKey(line, bar - 1, true, &parsed);
    // The key is what comes before the id.
    const char* key_end = bar - 1;
    while (valid && key_end > line && key_end[-1] != '|') key_end--;
    // Offsets of 32 bits, keys of 16, ids of 8 (a valid key is far shorter).
    if (valid) valid = stop - begin <= UINT32_MAX && key_end - 1 - line <= UINT16_MAX;
    if (!valid) {
      throw Napi::TypeError::New(env, "SilentList.replace: line " +
                                          std::to_string(entries.size()) + " '" +
                                          std::string(line, stop) + "' is malformed");
    }
    entry.key_at = static_cast<uint32_t>(line - begin);
    entry.key_length = static_cast<uint16_t>(key_end - 1 - line);
    entry.id_length = static_cast<uint8_t>(bar - 1 - key_end);
    entry.state = static_cast<uint8_t>(state);
    entry.live = true;
    entries.push_back(entry);
    line = stop + 1;
  }
  // A check under way was asked of the old list: its answers are dropped.
  generation_++;
  text_ = std::move(text);
  entries_ = std::move(entries);
  live_ = static_cast<uint32_t>(entries_.size());
  cursor_ = 0;
  done_ = 0;
  Index();
  return env.Undefined();
}

void SilentList::Index() {
  size_t slots = 16;
  while (slots < 2 * static_cast<size_t>(live_)) slots *= 2;
  index_.assign(slots, kNoEntry);
  const size_t mask = slots - 1;
  for (uint32_t i = 0; i < entries_.size(); i++) {
    if (!entries_[i].live) continue;
    size_t slot = std::hash<std::string_view>{}(KeyOf(entries_[i])) & mask;
    while (index_[slot] != kNoEntry) slot = (slot + 1) & mask;
    index_[slot] = i;
  }
}

uint32_t SilentList::Find(std::string_view key) const {
  if (index_.empty()) return kNoEntry;
  const size_t mask = index_.size() - 1;
  for (size_t slot = std::hash<std::string_view>{}(key) & mask;; slot = (slot + 1) & mask) {
    const uint32_t position = index_[slot];
    if (position == kNoEntry) return kNoEntry;
    const Entry& entry = entries_[position];
    if (entry.live && KeyOf(entry) == key) return position;
  }
}

Napi::Value SilentList::Forget(const Napi::CallbackInfo& info) {
  if (live_ > 0) {
    const std::string key = info[0].As<Napi::String>().Utf8Value();
    const uint32_t position = Find(key);
    if (position != kNoEntry) Drop(position);
  }
  // The size, so that JS keeps it without asking again per event.
  return Napi::Number::New(info.Env(), live_);
}

void SilentList::Drop(uint32_t position) {
  entries_[position].live = false;
  live_--;
  if (position < cursor_) done_--;
}

void SilentList::Compact() {
  // The lines of the dropped entries go too: a list after a restart shrinks
  // as its old connections end. Sized first, not shrunk after: shrink_to_fit
  // needs a newer libstdc++ than the prebuilt addon may (GLIBCXX_3.4.29).
  size_t bytes = 0;
  for (const Entry& entry : entries_) {
    if (entry.live) bytes += KeyAndIdOf(entry).size() + 1;
  }
  std::string text;
  text.reserve(bytes);
  size_t kept = 0;
  for (const Entry& entry : entries_) {
    if (!entry.live) continue;
    Entry moved = entry;
    moved.key_at = static_cast<uint32_t>(text.size());
    text.append(KeyAndIdOf(entry));
    text.push_back('\n');
    entries_[kept++] = moved;
  }
  text_ = std::move(text);
  entries_.resize(kept);
  entries_.shrink_to_fit();
  // The live entries before the position stay before it.
  cursor_ = done_;
  Index();
}

Napi::Value SilentList::Check(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (checking_) throw Napi::Error::New(env, "SilentList.check: a check is already under way");
  const int64_t count = info[0].As<Napi::Number>().Int64Value();
  if (WorthCompacting(entries_.size() - live_, live_)) Compact();
  std::vector<Wanted> wanted;
  std::vector<uint32_t> positions;
  for (; cursor_ < entries_.size() && static_cast<int64_t>(wanted.size()) < count; cursor_++) {
    if (!entries_[cursor_].live) continue;
    const std::string_view line = KeyAndIdOf(entries_[cursor_]);
    Wanted one{};
    // Parsed when listed already: this cannot fail.
    ParseKey(line.data(), line.data() + line.size(), true, &one);
    wanted.push_back(one);
    positions.push_back(cursor_);
    done_++;
  }
  while (cursor_ < entries_.size() && !entries_[cursor_].live) cursor_++;
  const bool wrapped = cursor_ == entries_.size();
  if (wrapped) {
    cursor_ = 0;
    done_ = 0;
  }
  if (wanted.empty()) {
    auto deferred = Napi::Promise::Deferred::New(env);
    deferred.Resolve(CheckResult(env, "", 0, wrapped));
    return deferred.Promise();
  }
  checking_ = true;
  auto* worker = new SilentCheckWorker(env, std::move(wanted), this, std::move(positions),
                                       generation_, wrapped);
  return worker->Run();
}

Napi::Value SilentList::Apply(Napi::Env env, const std::vector<uint32_t>& positions,
                              const std::vector<uint8_t>& states, uint64_t generation,
                              bool wrapped) {
  std::string changes;
  if (generation == generation_) {
    for (size_t i = 0; i < positions.size(); i++) {
      Entry& entry = entries_[positions[i]];
      // An event named it meanwhile: events tell its story now.
      if (!entry.live || states[i] == entry.state) continue;
      changes.append(KeyAndIdOf(entry));
      changes.push_back('|');
      changes.append(std::to_string(states[i]));
      changes.push_back('\n');
      if (states[i] == kGone) {
        Drop(positions[i]);
      } else {
        entry.state = states[i];
      }
    }
  }
  if (!changes.empty()) changes.pop_back();
  return CheckResult(env, changes, positions.size(), wrapped);
}

Napi::Value SilentList::Keys(const Napi::CallbackInfo& info) {
  std::string keys;
  for (const Entry& entry : entries_) {
    if (!entry.live) continue;
    if (!keys.empty()) keys.push_back('\n');
    keys.append(KeyOf(entry));
  }
  return Napi::String::New(info.Env(), keys);
}

Napi::Value SilentList::Rewind(const Napi::CallbackInfo& info) {
  cursor_ = 0;
  done_ = 0;
  return info.Env().Undefined();
}

Napi::Value SilentList::Size(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), live_);
}

Napi::Value SilentList::Remaining(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), live_ - done_);
}

}  // namespace conntrack
