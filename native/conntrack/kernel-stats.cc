#include "kernel-stats.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
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

// One socket for every read, opened at the first (in the watched namespace:
// see netns.h) and dropped after a failure, which may leave part of an
// answer queued. Opening, binding and closing a socket per scrape, on a
// worker thread, cost several times the request itself. The JS thread
// alone uses it.
mnl_socket* stats_socket = nullptr;
unsigned int stats_sequence = 0;

SystemError OpenSocket() {
  mnl_socket* socket;
  {
    NetnsScope scope("kernelStats");
    if (scope.error().failed()) return scope.error();
    socket = mnl_socket_open2(NETLINK_NETFILTER, SOCK_CLOEXEC);
  }
  if (socket == nullptr) return {"mnl_socket_open", errno};
  if (mnl_socket_bind(socket, 0, MNL_SOCKET_AUTOPID) < 0) {
    const int errnum = errno;
    mnl_socket_close(socket);
    return {"mnl_socket_bind", errnum};
  }
  stats_socket = socket;
  return {};
}

int OnMessage(const nlmsghdr* message, void* data) {
  auto* messages = static_cast<std::string*>(data);
  const char* bytes = reinterpret_cast<const char*>(message);
  messages->append(bytes, message->nlmsg_len);
  // Keeps every message at an aligned offset, as the kernel sends them.
  messages->append(MNL_ALIGN(message->nlmsg_len) - message->nlmsg_len, '\0');
  return MNL_CB_OK;
}

// The dump, each message appended to `messages`. The kernel answers from
// memory, one short message per CPU, within the calls: nothing here waits.
SystemError Query(std::string& messages) {
  std::vector<char> buffer(MNL_SOCKET_BUFFER_SIZE);
  nlmsghdr* request = mnl_nlmsg_put_header(buffer.data());
  request->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET_STATS_CPU;
  request->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  const unsigned int sequence = ++stats_sequence;
  request->nlmsg_seq = sequence;
  auto* header = static_cast<nfgenmsg*>(mnl_nlmsg_put_extra_header(request, sizeof(nfgenmsg)));
  header->nfgen_family = AF_UNSPEC;
  header->version = NFNETLINK_V0;
  header->res_id = 0;
  if (mnl_socket_sendto(stats_socket, request, request->nlmsg_len) < 0) {
    return {"mnl_socket_sendto(GET_STATS_CPU)", errno};
  }
  const unsigned int port = mnl_socket_get_portid(stats_socket);
  // mnl_cb_run checks sequence and port, turns NLMSG_ERROR into errno, and
  // returns MNL_CB_STOP (0) at NLMSG_DONE.
  int status;
  do {
    const ssize_t received = mnl_socket_recvfrom(stats_socket, buffer.data(), buffer.size());
    if (received < 0) return {"mnl_socket_recvfrom(GET_STATS_CPU)", errno};
    status = mnl_cb_run(buffer.data(), static_cast<size_t>(received), sequence, port, OnMessage,
                        &messages);
  } while (status > MNL_CB_STOP);
  if (status < 0) return {"mnl_cb_run(GET_STATS_CPU)", errno};
  return {};
}

}  // namespace

Napi::Value KernelStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  SystemError error = stats_socket == nullptr ? OpenSocket() : SystemError{};
  std::string messages;
  if (!error.failed()) error = Query(messages);
  if (error.failed()) {
    if (stats_socket != nullptr) mnl_socket_close(stats_socket);
    stats_socket = nullptr;
    throw error.ToJs(env);
  }
  Napi::ArrayBuffer result = Napi::ArrayBuffer::New(env, messages.size());
  if (!messages.empty()) std::memcpy(result.Data(), messages.data(), messages.size());
  return result;
}

}  // namespace conntrack
