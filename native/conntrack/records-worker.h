#pragma once

#include <napi.h>

#include <string>

extern "C" {
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
}

#include "errors.h"
#include "mapped-records.h"

namespace conntrack {

// A read of (some of) the conntrack table on a libuv worker thread, whose
// promise resolves to an ArrayBuffer of packed records (see record.h), one
// per TCP entry the kernel answered with, or rejects with the first error.
// dump() and lookup() differ only in what they ask (Query). Read-only.
class RecordsWorker : public Napi::AsyncWorker {
 public:
  // Queues the work (libuv then owns and frees the worker); its promise.
  Napi::Promise Run() {
    Napi::Promise promise = deferred_.Promise();
    Queue();
    return promise;
  }

 protected:
  // `name` tells the work apart in errors ("nfct_open" aside) and traces.
  RecordsWorker(Napi::Env env, const std::string& name);

  // On the worker thread, with the socket open in the watched namespace and
  // every entry it receives packed as a record. Reports failures with Fail().
  virtual void Query(nfct_handle* handle) = 0;

  // What the promise resolves to when nothing failed: the records, unless
  // the worker answers with something else.
  virtual Napi::Value Result(Napi::Env env);

  // Keeps the first failure: the later ones follow from it.
  void Fail(const std::string& context, int errnum);
  // Packs an entry the worker read itself (not through the handle's
  // callback); false when memory ran out (then failed()).
  bool Keep(const nf_conntrack* ct);
  bool failed() const { return error_.failed(); }

 private:
  void Execute() final;
  void OnOK() final;
  void OnError(const Napi::Error& error) final;
  static int OnEntry(enum nf_conntrack_msg_type type, nf_conntrack* ct, void* data);

  std::string name_;
  Napi::Promise::Deferred deferred_;
  MappedRecords records_;
  SystemError error_;
};

}  // namespace conntrack
