#include "dump.h"

#include <sys/socket.h>

#include <cerrno>
#include <vector>

extern "C" {
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
}

#include "errors.h"
#include "netns.h"
#include "record.h"

namespace conntrack {
namespace {

class DumpWorker : public Napi::AsyncWorker {
 public:
  explicit DumpWorker(Napi::Env env)
      : Napi::AsyncWorker(env, "conntrack.dump"), deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  // Runs on a libuv worker thread: netlink I/O only, no JS.
  void Execute() override {
    nfct_handle* handle;
    {
      // The socket belongs to the namespace it is created in (see netns.h).
      NetnsScope scope("dump");
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
    nfct_callback_register(handle, NFCT_T_ALL, &DumpWorker::OnEntry, &records_);
    uint32_t family = AF_UNSPEC;
    if (nfct_query(handle, NFCT_Q_DUMP, &family) < 0) {
      error_ = {"nfct_query(DUMP)", errno};
    }
    nfct_close(handle);
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (error_.failed()) {
      deferred_.Reject(error_.ToJs(env).Value());
      return;
    }
    // An external buffer with no data would arrive detached in JS.
    if (records_.empty()) {
      deferred_.Resolve(Napi::ArrayBuffer::New(env, 0));
      return;
    }
    // Hand the bytes to JS without a copy; the vector is freed with the buffer.
    auto* owned = new std::vector<uint8_t>(std::move(records_));
    Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(
        env, owned->data(), owned->size(),
        [](Napi::Env, void*, std::vector<uint8_t>* data) { delete data; }, owned);
    deferred_.Resolve(buffer);
  }

  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  static int OnEntry(enum nf_conntrack_msg_type, struct nf_conntrack* ct, void* data) {
    auto* records = static_cast<std::vector<uint8_t>*>(data);
    const size_t offset = records->size();
    records->resize(offset + kRecordSize);
    if (!PackEntry(ct, 0, records->data() + offset)) records->resize(offset);
    return NFCT_CB_CONTINUE;
  }

  Napi::Promise::Deferred deferred_;
  std::vector<uint8_t> records_;
  SystemError error_;
};

}  // namespace

Napi::Value Dump(const Napi::CallbackInfo& info) {
  auto* worker = new DumpWorker(info.Env());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace conntrack
