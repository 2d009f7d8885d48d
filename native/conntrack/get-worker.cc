#include "get-worker.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

extern "C" {
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
}

#include "record.h"

namespace conntrack {
namespace {

// Requests sent with one sendmsg. The kernel answers each of them while
// that call runs, into the socket's receive buffer; what does not fit is
// dropped (ENOBUFS) and asked again in smaller batches.
constexpr size_t kBatch = 512;
// Room for a batch's answers: each is one skb of a few hundred bytes of
// data plus the kernel's overhead, about 1 KiB once trimmed.
constexpr int kReceiveBytes = 4 << 20;
// One request: the headers and the original tuple (an IPv6 one is ~120 bytes).
constexpr size_t kRequestRoom = 256;
// recvmmsg reads this many answers (one skb each) per call.
constexpr unsigned int kReadsPerCall = 64;
// An answer is built in a buffer of NLMSG_DEFAULT_SIZE (under a page).
constexpr size_t kAnswerRoom = 8192;

// One field of a key: an address (into `out`) or a number up to `max`.
bool ParseAddress(int family, const char* begin, const char* end, uint8_t* out) {
  char text[64];
  const size_t length = static_cast<size_t>(end - begin);
  if (length == 0 || length >= sizeof text) return false;
  std::memcpy(text, begin, length);
  text[length] = '\0';
  return inet_pton(family, text, out) == 1;
}

template <typename T>
bool ParseNumber(const char* begin, const char* end, uint64_t max, T* out) {
  if (begin == end || end - begin > 10) return false;
  uint64_t value = 0;
  for (const char* c = begin; c < end; c++) {
    if (*c < '0' || *c > '9') return false;
    value = value * 10 + static_cast<uint64_t>(*c - '0');
  }
  if (value > max) return false;
  *out = static_cast<T>(value);
  return true;
}

// Calls visit(type, payload, length) for each netlink attribute in `data`;
// stops at the first malformed one.
template <typename Visit>
void ForEachAttribute(const uint8_t* data, size_t length, Visit&& visit) {
  while (length >= NLA_HDRLEN) {
    nlattr attr;
    std::memcpy(&attr, data, sizeof attr);
    if (attr.nla_len < NLA_HDRLEN || attr.nla_len > length) return;
    visit(attr.nla_type & NLA_TYPE_MASK, data + NLA_HDRLEN, attr.nla_len - NLA_HDRLEN);
    const size_t step = NLA_ALIGN(attr.nla_len);
    if (step >= length) return;
    data += step;
    length -= step;
  }
}

// The kernel id (CTA_ID) and TCP state (CTA_PROTOINFO > CTA_PROTOINFO_TCP >
// CTA_PROTOINFO_TCP_STATE) of an answer, read in place: all check() needs,
// without parsing the whole entry. False without an id.
bool ReadIdAndState(const nlmsghdr* nlh, uint32_t* id, uint8_t* state) {
  const size_t header = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg));
  if (nlh->nlmsg_len < header) return false;
  bool has_id = false;
  *state = kNoTcpState;
  const auto* payload = reinterpret_cast<const uint8_t*>(nlh) + header;
  ForEachAttribute(payload, nlh->nlmsg_len - header, [&](int type, const uint8_t* data, size_t n) {
    if (type == CTA_ID && n >= sizeof(uint32_t)) {
      uint32_t value;
      std::memcpy(&value, data, sizeof value);
      *id = ntohl(value);
      has_id = true;
    } else if (type == CTA_PROTOINFO) {
      ForEachAttribute(data, n, [&](int inner, const uint8_t* tcp, size_t tcp_length) {
        if (inner != CTA_PROTOINFO_TCP) return;
        ForEachAttribute(tcp, tcp_length, [&](int field, const uint8_t* value, size_t size) {
          if (field == CTA_PROTOINFO_TCP_STATE && size >= 1) *state = *value;
        });
      });
    }
  });
  return has_id;
}

void Describe(nf_conntrack* ct, const Wanted& wanted) {
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
}

}  // namespace

// "family|src|srcPort|dst|dstPort|zone", as identityKey (src/conntrack)
// writes it, and for check() "|id" after it.
bool ParseKey(const char* begin, const char* end, bool with_id, Wanted* w) {
  const int expected = with_id ? 7 : 6;
  const char* fields[7];
  const char* ends[7];
  int count = 0;
  const char* field = begin;
  for (const char* c = begin; c <= end; c++) {
    if (c != end && *c != '|') continue;
    if (count == expected) return false;
    fields[count] = field;
    ends[count] = c;
    count++;
    field = c + 1;
  }
  if (count != expected || ends[0] - fields[0] != 1) return false;
  if (with_id && !ParseNumber(fields[6], ends[6], 0xffffffffu, &w->id)) return false;
  if (*fields[0] == '4') {
    w->family = AF_INET;
  } else if (*fields[0] == '6') {
    w->family = AF_INET6;
  } else {
    return false;
  }
  return ParseAddress(w->family, fields[1], ends[1], w->src) &&
         ParseNumber(fields[2], ends[2], 0xffff, &w->src_port) &&
         ParseAddress(w->family, fields[3], ends[3], w->dst) &&
         ParseNumber(fields[4], ends[4], 0xffff, &w->dst_port) &&
         ParseNumber(fields[5], ends[5], 0xffff, &w->zone);
}

void GetWorker::Query(nfct_handle* handle) {
  fd_ = nfct_fd(handle);
  // Larger than rmem_max needs CAP_NET_ADMIN, which reading the table
  // needs anyway; without it, the default and smaller batches do.
  if (setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &kReceiveBytes, sizeof kReceiveBytes) < 0) {
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &kReceiveBytes, sizeof kReceiveBytes);
  }
  request_.reset(new uint8_t[kBatch * kRequestRoom]);
  answers_.reset(new uint8_t[kReadsPerCall * kAnswerRoom]);

  std::vector<uint32_t> queue(wanted_.size());
  for (uint32_t i = 0; i < queue.size(); i++) queue[i] = i;
  size_t batch = kBatch;
  size_t stalled = 0;
  for (size_t next = 0; next < queue.size() && !failed();) {
    const size_t count = std::min(batch, queue.size() - next);
    std::vector<uint32_t> asked(queue.begin() + next, queue.begin() + next + count);
    next += count;
    std::vector<bool> answered(count, false);
    bool overrun = false;
    if (!Send(asked) || !Receive(asked, answered, &overrun)) break;
    size_t missing = 0;
    for (size_t i = 0; i < count; i++) {
      if (answered[i]) continue;
      queue.push_back(asked[i]);
      missing++;
    }
    if (missing == 0) {
      stalled = 0;
      continue;
    }
    // Answers were dropped for want of room: ask again, fewer at a time.
    batch = std::max<size_t>(1, batch / 2);
    if (missing == count && ++stalled > 16) {
      Fail("lookup: no answer from the kernel", overrun ? ENOBUFS : EIO);
    }
  }
}

bool GetWorker::Send(const std::vector<uint32_t>& asked) {
  nf_conntrack* ct = nfct_new();
  if (ct == nullptr) {
    Fail("nfct_new", ENOMEM);
    return false;
  }
  size_t length = 0;
  for (size_t i = 0; i < asked.size(); i++) {
    Describe(ct, wanted_[asked[i]]);
    auto* nlh = reinterpret_cast<nlmsghdr*>(request_.get() + length);
    std::memset(nlh, 0, kRequestRoom);
    nlh->nlmsg_len = NLMSG_HDRLEN + NLMSG_ALIGN(sizeof(nfgenmsg));
    nlh->nlmsg_type = (NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET;
    // No NLM_F_ACK: an entry found is its own answer, and a missing one
    // (ENOENT) or a failure is answered with an error message anyway.
    nlh->nlmsg_flags = NLM_F_REQUEST;
    nlh->nlmsg_seq = first_seq_ + static_cast<uint32_t>(i);
    auto* header = static_cast<nfgenmsg*>(NLMSG_DATA(nlh));
    header->nfgen_family = static_cast<uint8_t>(wanted_[asked[i]].family);
    header->version = NFNETLINK_V0;
    header->res_id = 0;
    if (nfct_nlmsg_build(nlh, ct) < 0) {
      nfct_destroy(ct);
      Fail("nfct_nlmsg_build", errno);
      return false;
    }
    length += NLMSG_ALIGN(nlh->nlmsg_len);
  }
  nfct_destroy(ct);
  sockaddr_nl kernel = {};
  kernel.nl_family = AF_NETLINK;
  ssize_t sent;
  do {
    sent = sendto(fd_, request_.get(), length, 0, reinterpret_cast<sockaddr*>(&kernel),
                  sizeof kernel);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) {
    Fail("sendto(lookup)", errno);
    return false;
  }
  return true;
}

// Every answer to the batch is queued by the time sendto returns (the
// kernel handles netlink requests in the sender's call), so this reads
// until the socket is empty. Marks each request answered, with an entry
// or as gone; those left unmarked were dropped for want of room.
bool GetWorker::Receive(const std::vector<uint32_t>& asked, std::vector<bool>& answered,
                        bool* overrun) {
  const uint32_t first = first_seq_;
  first_seq_ += static_cast<uint32_t>(answered.size());
  mmsghdr messages[kReadsPerCall];
  iovec vectors[kReadsPerCall];
  for (;;) {
    std::memset(messages, 0, sizeof messages);
    for (unsigned int i = 0; i < kReadsPerCall; i++) {
      vectors[i] = {answers_.get() + i * kAnswerRoom, kAnswerRoom};
      messages[i].msg_hdr.msg_iov = &vectors[i];
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    const int read = recvmmsg(fd_, messages, kReadsPerCall, MSG_DONTWAIT, nullptr);
    if (read < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      // Reported once, for the answers dropped; the queued ones follow.
      if (errno == ENOBUFS) {
        *overrun = true;
        continue;
      }
      Fail("recvmmsg(lookup)", errno);
      return false;
    }
    for (int m = 0; m < read; m++) {
      if (!Answer(static_cast<const uint8_t*>(vectors[m].iov_base), messages[m].msg_len, first,
                  asked, answered)) {
        return false;
      }
    }
  }
}

bool GetWorker::Answer(const uint8_t* data, size_t length, uint32_t first,
                       const std::vector<uint32_t>& asked, std::vector<bool>& answered) {
  int left = static_cast<int>(length);
  for (auto* nlh = reinterpret_cast<const nlmsghdr*>(data); NLMSG_OK(nlh, left);
       nlh = NLMSG_NEXT(nlh, left)) {
    const uint32_t index = nlh->nlmsg_seq - first;
    if (index >= answered.size()) continue;  // not this batch's: cannot happen, ignored
    if (nlh->nlmsg_type == NLMSG_ERROR) {
      const auto* error = static_cast<const nlmsgerr*>(NLMSG_DATA(nlh));
      const int errnum = -error->error;
      // ENOENT: the entry is gone, which is an answer, not a failure.
      if (errnum == 0 || errnum == ENOENT) {
        answered[index] = true;
      } else if (errnum != EAGAIN && errnum != ENOBUFS) {
        Fail("lookup (IPCTNL_MSG_CT_GET)", errnum);
        return false;
      }
      continue;
    }
    if (!Found(asked[index], nlh)) return false;
    answered[index] = true;
  }
  return true;
}

bool CheckWorker::Found(uint32_t index, const nlmsghdr* nlh) {
  uint32_t id = 0;
  uint8_t state = kNoTcpState;
  if (!ReadIdAndState(nlh, &id, &state)) {
    Fail("check: an answer without CTA_ID", EBADMSG);
    return false;
  }
  states_[index] = id == wanted()[index].id ? state : kGone;
  return true;
}

Napi::Value CheckWorker::Result(Napi::Env env) {
  Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(env, states_.size());
  if (!states_.empty()) std::memcpy(buffer.Data(), states_.data(), states_.size());
  return buffer;
}

Napi::Promise CheckWorker::Start(Napi::Env env, std::vector<Wanted> wanted) {
  return (new CheckWorker(env, "check", std::move(wanted)))->Run();
}

}  // namespace conntrack
