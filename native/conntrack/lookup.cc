#include "lookup.h"

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
}

#include "get-worker.h"

namespace conntrack {
namespace {

// lookup(): each entry found, packed as a record.
class LookupWorker : public GetWorker {
 public:
  LookupWorker(Napi::Env env, std::vector<Wanted> wanted)
      : GetWorker(env, "lookup", std::move(wanted)) {}

 protected:
  bool Found(uint32_t /*index*/, const nlmsghdr* nlh) override {
    nf_conntrack* ct = nfct_new();
    if (ct == nullptr) {
      Fail("nfct_new", ENOMEM);
      return false;
    }
    const bool parsed = nfct_nlmsg_parse(nlh, ct) >= 0;
    const bool kept = parsed && Keep(ct);
    nfct_destroy(ct);
    if (!parsed) Fail("nfct_nlmsg_parse(lookup)", EBADMSG);
    return kept;
  }
};

Napi::Value Ask(const Napi::CallbackInfo& info, bool check) {
  Napi::Env env = info.Env();
  // One string for every key: one crossing of the N-API boundary per call,
  // not six per entry.
  const std::string text = info[0].As<Napi::String>().Utf8Value();
  std::vector<Wanted> wanted;
  const char* line = text.data();
  const char* const end = line + text.size();
  while (line < end) {
    const char* stop = static_cast<const char*>(std::memchr(line, '\n', end - line));
    if (stop == nullptr) stop = end;
    Wanted w = {};
    if (!ParseKey(line, stop, check, &w)) {
      throw Napi::TypeError::New(env, std::string(check ? "check" : "lookup") + ": key " +
                                          std::to_string(wanted.size()) + " '" +
                                          std::string(line, stop) + "' is malformed");
    }
    wanted.push_back(w);
    line = stop + 1;
  }
  if (check) return CheckWorker::Start(env, std::move(wanted));
  return (new LookupWorker(env, std::move(wanted)))->Run();
}

}  // namespace

Napi::Value Lookup(const Napi::CallbackInfo& info) { return Ask(info, false); }

Napi::Value Check(const Napi::CallbackInfo& info) { return Ask(info, true); }

}  // namespace conntrack
