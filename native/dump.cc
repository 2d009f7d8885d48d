#include "dump.h"

#include <sys/socket.h>

#include <cerrno>

extern "C" {
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnfnetlink/libnfnetlink.h>
}

#include "errors.h"
#include "mapped-records.h"
#include "netns.h"
#include "record.h"

namespace conntrack {
namespace {

// What libnfnetlink reads the dump with. The kernel sizes each batch of
// entries it builds by the reader's buffer, up to 32 KiB; the default 8 KiB
// meant four times as many rounds through the dump code.
constexpr unsigned int kDumpReadBytes = 64 * 1024;

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
    nfnl_set_rcv_buffer_size(const_cast<nfnl_handle*>(nfct_nfnlh(handle)), kDumpReadBytes);
    nfct_callback_register(handle, NFCT_T_ALL, &DumpWorker::OnEntry, this);
    uint32_t family = AF_UNSPEC;
    if (nfct_query(handle, NFCT_Q_DUMP, &family) < 0 && !error_.failed()) {
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
    if (records_.size() == 0) {
      deferred_.Resolve(Napi::ArrayBuffer::New(env, 0));
      return;
    }
    deferred_.Resolve(records_.ToJs(env));
  }

  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

 private:
  static int OnEntry(enum nf_conntrack_msg_type, struct nf_conntrack* ct, void* data) {
    auto* self = static_cast<DumpWorker*>(data);
    uint8_t* record = self->records_.Append();
    if (record == nullptr) {
      self->error_ = {"mmap(dump records)", ENOMEM};
      return NFCT_CB_FAILURE;
    }
    if (!PackEntry(ct, 0, record)) self->records_.DropLast();
    return NFCT_CB_CONTINUE;
  }

  Napi::Promise::Deferred deferred_;
  MappedRecords records_;
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
