#include "dump.h"

#include <sys/socket.h>

#include <cerrno>

extern "C" {
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnfnetlink/libnfnetlink.h>
}

#include "records-worker.h"

namespace conntrack {
namespace {

// What libnfnetlink reads the dump with. The kernel sizes each batch of
// entries it builds by the reader's buffer, up to 32 KiB; the default 8 KiB
// meant four times as many rounds through the dump code.
constexpr unsigned int kDumpReadBytes = 64 * 1024;

class DumpWorker : public RecordsWorker {
 public:
  explicit DumpWorker(Napi::Env env) : RecordsWorker(env, "dump") {}

 protected:
  void Query(nfct_handle* handle) override {
    nfnl_set_rcv_buffer_size(const_cast<nfnl_handle*>(nfct_nfnlh(handle)), kDumpReadBytes);
    uint32_t family = AF_UNSPEC;
    if (nfct_query(handle, NFCT_Q_DUMP, &family) < 0) Fail("nfct_query(DUMP)", errno);
  }
};

}  // namespace

Napi::Value Dump(const Napi::CallbackInfo& info) {
  return (new DumpWorker(info.Env()))->Run();
}

}  // namespace conntrack
