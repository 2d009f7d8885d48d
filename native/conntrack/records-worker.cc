#include "records-worker.h"

#include <cerrno>

#include "netns.h"
#include "record.h"

namespace conntrack {

RecordsWorker::RecordsWorker(Napi::Env env, const std::string& name)
    : Napi::AsyncWorker(env, ("conntrack." + name).c_str()),
      name_(name),
      deferred_(Napi::Promise::Deferred::New(env)) {}

void RecordsWorker::Fail(const std::string& context, int errnum) {
  if (!error_.failed()) error_ = {context, errnum};
}

// Runs on a libuv worker thread: netlink I/O only, no JS.
void RecordsWorker::Execute() {
  nfct_handle* handle;
  {
    // The socket belongs to the namespace it is created in (see netns.h).
    NetnsScope scope(name_.c_str());
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
  nfct_callback_register(handle, NFCT_T_ALL, &RecordsWorker::OnEntry, this);
  Query(handle);
  nfct_close(handle);
}

void RecordsWorker::OnOK() {
  Napi::Env env = Env();
  if (error_.failed()) {
    deferred_.Reject(error_.ToJs(env).Value());
    return;
  }
  deferred_.Resolve(Result(env));
}

Napi::Value RecordsWorker::Result(Napi::Env env) {
  // An external buffer with no data would arrive detached in JS.
  if (records_.size() == 0) return Napi::ArrayBuffer::New(env, 0);
  return records_.ToJs(env);
}

void RecordsWorker::OnError(const Napi::Error& error) { deferred_.Reject(error.Value()); }

bool RecordsWorker::Keep(const nf_conntrack* ct) {
  uint8_t* record = records_.Append();
  if (record == nullptr) {
    Fail("mmap(" + name_ + " records)", ENOMEM);
    return false;
  }
  if (!PackEntry(ct, 0, record)) records_.DropLast();
  return true;
}

int RecordsWorker::OnEntry(enum nf_conntrack_msg_type /*type*/, nf_conntrack* ct, void* data) {
  return static_cast<RecordsWorker*>(data)->Keep(ct) ? NFCT_CB_CONTINUE : NFCT_CB_FAILURE;
}

}  // namespace conntrack
