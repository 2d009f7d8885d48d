#pragma once

#include <napi.h>
#include <sys/mman.h>

#include <cstddef>
#include <cstdint>

#include "record.h"

namespace conntrack {

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

}  // namespace conntrack
