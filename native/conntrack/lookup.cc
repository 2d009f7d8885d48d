#include "lookup.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
}

#include "records-worker.h"

namespace conntrack {
namespace {

// An original tuple to ask the kernel for, parsed on the JS thread.
struct Wanted {
  int family;  // AF_INET or AF_INET6
  uint8_t src[16];
  uint8_t dst[16];
  uint16_t src_port;
  uint16_t dst_port;
  uint16_t zone;
};

bool ParseAddress(int family, const std::string& text, uint8_t* out) {
  return inet_pton(family, text.c_str(), out) == 1;
}

class LookupWorker : public RecordsWorker {
 public:
  LookupWorker(Napi::Env env, std::vector<Wanted> wanted)
      : RecordsWorker(env, "lookup"), wanted_(std::move(wanted)) {}

 protected:
  void Query(nfct_handle* handle) override {
    nf_conntrack* ct = nfct_new();
    if (ct == nullptr) {
      Fail("nfct_new", ENOMEM);
      return;
    }
    for (const Wanted& wanted : wanted_) {
      if (failed()) break;
      Ask(handle, ct, wanted);
    }
    nfct_destroy(ct);
  }

 private:
  void Ask(nfct_handle* handle, nf_conntrack* ct, const Wanted& wanted) {
    // The same object for every request: each sets the same attributes anew.
    nfct_set_attr_u8(ct, ATTR_L3PROTO, static_cast<uint8_t>(wanted.family));
    if (wanted.family == AF_INET) {
      uint32_t src;
      uint32_t dst;
      std::memcpy(&src, wanted.src, sizeof src);
      std::memcpy(&dst, wanted.dst, sizeof dst);
      nfct_set_attr_u32(ct, ATTR_IPV4_SRC, src);
      nfct_set_attr_u32(ct, ATTR_IPV4_DST, dst);
    } else {
      nfct_set_attr(ct, ATTR_IPV6_SRC, wanted.src);
      nfct_set_attr(ct, ATTR_IPV6_DST, wanted.dst);
    }
    nfct_set_attr_u8(ct, ATTR_L4PROTO, IPPROTO_TCP);
    nfct_set_attr_u16(ct, ATTR_PORT_SRC, htons(wanted.src_port));
    nfct_set_attr_u16(ct, ATTR_PORT_DST, htons(wanted.dst_port));
    nfct_set_attr_u16(ct, ATTR_ZONE, wanted.zone);
    // ENOENT: the entry is gone, which is an answer, not a failure.
    if (nfct_query(handle, NFCT_Q_GET, ct) < 0 && errno != ENOENT) Fail("nfct_query(GET)", errno);
  }

  std::vector<Wanted> wanted_;
};

}  // namespace

Napi::Value Lookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array tuples = info[0].As<Napi::Array>();
  std::vector<Wanted> wanted(tuples.Length());
  for (uint32_t i = 0; i < tuples.Length(); i++) {
    Napi::Array tuple = tuples.Get(i).As<Napi::Array>();
    Wanted& w = wanted[i];
    w = {};
    w.family = tuple.Get(0u).As<Napi::Number>().Uint32Value() == 6 ? AF_INET6 : AF_INET;
    w.src_port = static_cast<uint16_t>(tuple.Get(2u).As<Napi::Number>().Uint32Value());
    w.dst_port = static_cast<uint16_t>(tuple.Get(4u).As<Napi::Number>().Uint32Value());
    w.zone = static_cast<uint16_t>(tuple.Get(5u).As<Napi::Number>().Uint32Value());
    if (!ParseAddress(w.family, tuple.Get(1u).As<Napi::String>().Utf8Value(), w.src) ||
        !ParseAddress(w.family, tuple.Get(3u).As<Napi::String>().Utf8Value(), w.dst)) {
      throw Napi::TypeError::New(env, "lookup: tuple " + std::to_string(i) + " has a bad address");
    }
  }
  return (new LookupWorker(env, std::move(wanted)))->Run();
}

}  // namespace conntrack
