#include "kernel-stats.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

extern "C" {
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_conntrack.h>
}

#include "errors.h"
#include "netns.h"

namespace conntrack {
namespace {

// The netlink work of one read, on a libuv worker thread; the messages are
// copied out as they arrive and handed to JS whole.
class KernelStatsWorker : public Napi::AsyncWorker {
 public:
  explicit KernelStatsWorker(Napi::Env env)
      : Napi::AsyncWorker(env, "conntrack.kernelStats"),
        deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Run() {
    Napi::Promise promise = deferred_.Promise();
    Queue();
    return promise;
  }

 private:
  void Execute() override {
    mnl_socket* socket;
    {
      // The socket belongs to the namespace it is created in (see netns.h).
      NetnsScope scope("kernelStats");
      if (scope.error().failed()) {
        error_ = scope.error();
        return;
      }
      socket = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
    }
    if (socket == nullptr) {
      error_ = {"mnl_socket_open", errno};
      return;
    }
    Query(socket);
    mnl_socket_close(socket);
  }

  void Query(mnl_socket* socket) {
    if (mnl_socket_bind(socket, 0, MNL_SOCKET_AUTOPID) < 0) {
      error_ = {"mnl_socket_bind", errno};
      return;
    }
    std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* request = mnl_nlmsg_put_header(buffer.data());
    request->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET_STATS_CPU;
    request->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    const unsigned int sequence = static_cast<unsigned int>(time(nullptr));
    request->nlmsg_seq = sequence;
    auto* header = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(request, sizeof(nfgenmsg)));
    header->nfgen_family = AF_UNSPEC;
    header->version = NFNETLINK_V0;
    header->res_id = 0;
    if (mnl_socket_sendto(socket, request, request->nlmsg_len) < 0) {
      error_ = {"mnl_socket_sendto(GET_STATS_CPU)", errno};
      return;
    }
    const unsigned int port = mnl_socket_get_portid(socket);
    // mnl_cb_run checks sequence and port, turns NLMSG_ERROR into errno, and
    // returns MNL_CB_STOP (0) at NLMSG_DONE.
    int status;
    do {
      const ssize_t received = mnl_socket_recvfrom(socket, buffer.data(), buffer.size());
      if (received < 0) {
        error_ = {"mnl_socket_recvfrom(GET_STATS_CPU)", errno};
        return;
      }
      status = mnl_cb_run(buffer.data(), static_cast<size_t>(received), sequence, port,
                          &KernelStatsWorker::OnMessage, this);
    } while (status > MNL_CB_STOP);
    if (status < 0) error_ = {"mnl_cb_run(GET_STATS_CPU)", errno};
  }

  static int OnMessage(const nlmsghdr* message, void* data) {
    auto* self = static_cast<KernelStatsWorker*>(data);
    const char* bytes = reinterpret_cast<const char*>(message);
    self->messages_.append(bytes, message->nlmsg_len);
    // Keeps every message at an aligned offset, as the kernel sends them.
    self->messages_.append(MNL_ALIGN(message->nlmsg_len) - message->nlmsg_len, '\0');
    return MNL_CB_OK;
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (error_.failed()) {
      deferred_.Reject(error_.ToJs(env).Value());
      return;
    }
    Napi::ArrayBuffer result = Napi::ArrayBuffer::New(env, messages_.size());
    if (!messages_.empty()) std::memcpy(result.Data(), messages_.data(), messages_.size());
    deferred_.Resolve(result);
  }

  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

  Napi::Promise::Deferred deferred_;
  std::string messages_;
  SystemError error_;
};

}  // namespace

Napi::Value KernelStats(const Napi::CallbackInfo& info) {
  return (new KernelStatsWorker(info.Env()))->Run();
}

}  // namespace conntrack
