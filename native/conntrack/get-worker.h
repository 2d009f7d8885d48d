#pragma once

#include <linux/netlink.h>
#include <napi.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "records-worker.h"

namespace conntrack {

// An original tuple to ask the kernel for, parsed on the JS thread.
struct Wanted {
  int family;  // AF_INET or AF_INET6
  uint8_t src[16];
  uint8_t dst[16];
  uint16_t src_port;
  uint16_t dst_port;
  uint16_t zone;
  uint32_t id;  // check(): the kernel id of the connection known under the tuple
};

// A check's answer for a connection that is gone, or whose tuple now
// belongs to another connection (another kernel id).
constexpr uint8_t kGone = 0xfe;

// "family|src|srcPort|dst|dstPort|zone", as identityKey (src/conntrack)
// writes it, and with `with_id` "|id" after it.
bool ParseKey(const char* begin, const char* end, bool with_id, Wanted* w);

// Each entry by one IPCTNL_MSG_CT_GET, as `conntrack -G` asks, but many
// requests per system call on one socket and the answers read many per
// call, told apart by sequence number: a request costs the kernel one hash
// lookup and one message, and the process two system calls per batch
// instead of two per entry. What to do with an answer is the subclass'
// business (Found).
class GetWorker : public RecordsWorker {
 protected:
  GetWorker(Napi::Env env, const std::string& name, std::vector<Wanted> wanted)
      : RecordsWorker(env, name), wanted_(std::move(wanted)) {}

  // On the worker thread: the entry the kernel answered request `index`
  // with. False when the work cannot go on (after Fail()).
  virtual bool Found(uint32_t index, const nlmsghdr* nlh) = 0;

  const std::vector<Wanted>& wanted() const { return wanted_; }

 private:
  void Query(nfct_handle* handle) final;
  bool Send(const std::vector<uint32_t>& asked);
  bool Receive(const std::vector<uint32_t>& asked, std::vector<bool>& answered, bool* overrun);
  bool Answer(const uint8_t* data, size_t length, uint32_t first,
              const std::vector<uint32_t>& asked, std::vector<bool>& answered);

  std::vector<Wanted> wanted_;
  int fd_ = -1;
  uint32_t first_seq_ = 1;
  // Not std::vector: it would zero them at every lookup.
  std::unique_ptr<uint8_t[]> request_;
  std::unique_ptr<uint8_t[]> answers_;
};

// One byte per request, in request order: the entry's TCP state
// (TCP_CONNTRACK_*, or kNoTcpState) if it is still the connection with the
// id asked about, else kGone; no record, no address to turn into text.
class CheckWorker : public GetWorker {
 protected:
  CheckWorker(Napi::Env env, const std::string& name, std::vector<Wanted> wanted)
      : GetWorker(env, name, std::move(wanted)), states_(this->wanted().size(), kGone) {}

  bool Found(uint32_t index, const nlmsghdr* nlh) override;
  // An ArrayBuffer of the states.
  Napi::Value Result(Napi::Env env) override;

  const std::vector<uint8_t>& states() const { return states_; }

 public:
  // check() of the addon: queued, its promise.
  static Napi::Promise Start(Napi::Env env, std::vector<Wanted> wanted);

 private:
  // kGone until the kernel says otherwise.
  std::vector<uint8_t> states_;
};

}  // namespace conntrack
