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

#include "errors.h"
#include "mapped-records.h"
#include "netns.h"
#include "record.h"

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

class LookupWorker : public Napi::AsyncWorker {
 public:
  LookupWorker(Napi::Env env, std::vector<Wanted> wanted)
      : Napi::AsyncWorker(env, "conntrack.lookup"),
        deferred_(Napi::Promise::Deferred::New(env)),
        wanted_(std::move(wanted)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  // Runs on a libuv worker thread: netlink I/O only, no JS.
  void Execute() override {
    nfct_handle* handle;
    {
      // The socket belongs to the namespace it is created in (see netns.h).
      NetnsScope scope("lookup");
      if (scope.error().failed()) {
        error_ = scope.error();
        return;
      }
      handle = nfct_open(CONNTRACK, 0);
    }
    if (handle == nullptr) {
      error_ = {"nfct_open", errno};
      return;
    }
    nfct_callback_register(handle, NFCT_T_ALL, &LookupWorker::OnEntry, this);
    nf_conntrack* ct = nfct_new();
    if (ct == nullptr) error_ = {"nfct_new", ENOMEM};
    for (const Wanted& wanted : wanted_) {
      if (error_.failed()) break;
      Ask(handle, ct, wanted);
    }
    if (ct != nullptr) nfct_destroy(ct);
    nfct_close(handle);
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (error_.failed()) {
      deferred_.Reject(error_.ToJs(env).Value());
      return;
    }
    // An external buffer with no data would arrive detached in JS.
    if (records_.size() == 0) {
      deferred_.Resolve(Napi::ArrayBuffer::New(env, 0));
      return;
    }
    deferred_.Resolve(records_.ToJs(env));
  }

  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

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
    if (nfct_query(handle, NFCT_Q_GET, ct) < 0 && errno != ENOENT && !error_.failed()) {
      error_ = {"nfct_query(GET)", errno};
    }
  }

  static int OnEntry(enum nf_conntrack_msg_type, struct nf_conntrack* ct, void* data) {
    auto* self = static_cast<LookupWorker*>(data);
    uint8_t* record = self->records_.Append();
    if (record == nullptr) {
      self->error_ = {"mmap(lookup records)", ENOMEM};
      return NFCT_CB_FAILURE;
    }
    if (!PackEntry(ct, 0, record)) self->records_.DropLast();
    return NFCT_CB_CONTINUE;
  }

  Napi::Promise::Deferred deferred_;
  std::vector<Wanted> wanted_;
  MappedRecords records_;
  SystemError error_;
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
  auto* worker = new LookupWorker(env, std::move(wanted));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace conntrack
