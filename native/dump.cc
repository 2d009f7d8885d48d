#include "dump.h"

#include <sys/mman.h>
#include <sys/socket.h>

#include <cerrno>

extern "C" {
#include <libnetfilter_conntrack/libnetfilter_conntrack.h>
#include <libnfnetlink/libnfnetlink.h>
}

#include "errors.h"
#include "netns.h"
#include "record.h"

namespace conntrack {
namespace {

// What libnfnetlink reads the dump with. The kernel sizes each batch of
// entries it builds by the reader's buffer, up to 32 KiB; the default 8 KiB
// meant four times as many rounds through the dump code.
constexpr unsigned int kDumpReadBytes = 64 * 1024;

// The records of one dump, in memory mapped for them alone: grown with
// mremap (no copy) and unmapped when JS lets go of the buffer. From malloc,
// a buffer this large would stay in the worker thread's arena once freed
// (glibc raises its mmap threshold after the first), so each re-read of a
// large table kept its size in the process for good.
class MappedRecords {
 public:
  MappedRecords() = default;
  MappedRecords(const MappedRecords&) = delete;
  MappedRecords& operator=(const MappedRecords&) = delete;
  ~MappedRecords() { Unmap(data_, capacity_); }

  // Room for one more record, or nullptr when memory ran out.
  uint8_t* Append() {
    if (size_ + kRecordSize > capacity_ && !Grow()) return nullptr;
    uint8_t* record = data_ + size_;
    size_ += kRecordSize;
    return record;
  }
  void DropLast() { size_ -= kRecordSize; }
  size_t size() const { return size_; }

  // Hands the records to a JS ArrayBuffer, which unmaps them when collected.
  Napi::ArrayBuffer ToJs(Napi::Env env) {
    auto* mapping = new Mapping{data_, capacity_};
    Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(
        env, data_, size_, [](Napi::Env, void*, Mapping* m) {
          Unmap(m->data, m->capacity);
          delete m;
        },
        mapping);
    data_ = nullptr;
    size_ = capacity_ = 0;
    return buffer;
  }

 private:
  struct Mapping {
    uint8_t* data;
    size_t capacity;
  };

  static void Unmap(uint8_t* data, size_t capacity) {
    if (data != nullptr) munmap(data, capacity);
  }

  bool Grow() {
    const size_t capacity = capacity_ == 0 ? 1024 * kRecordSize : capacity_ * 2;
    void* data = data_ == nullptr
                     ? mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                            -1, 0)
                     : mremap(data_, capacity_, capacity, MREMAP_MAYMOVE);
    if (data == MAP_FAILED) return false;
    data_ = static_cast<uint8_t*>(data);
    capacity_ = capacity;
    return true;
  }

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

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
