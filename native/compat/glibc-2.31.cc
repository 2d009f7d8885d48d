// Built into the prebuilt addons only (binding.gyp, prebuild=1), so that they
// load on glibc 2.31 and GCC 10's libstdc++ (Debian 11, Ubuntu 20.04) though
// the build host's are newer. Hidden definitions here take the place of the
// two newer symbols the sources need, so the addon asks for neither:
// - strerrorname_np, new in glibc 2.32. Names as glibc gives them (EAGAIN,
//   not EWOULDBLOCK; EDEADLK; EOPNOTSUPP).
// - std::__throw_bad_array_new_length, new in GCC 11's libstdc++
//   (GLIBCXX_3.4.29), which g++ 11 and later call for a new[] of a run-time size.
// - std::condition_variable::wait(unique_lock<mutex>&), which GCC 12's
//   libstdc++ exports anew as GLIBCXX_3.4.30; it is pthread_cond_wait on the
//   variable's and the mutex's native handles, as libstdc++ implements it.
#include <pthread.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <new>

namespace std {
__attribute__((visibility("hidden"), noreturn)) void __throw_bad_array_new_length() {
  throw std::bad_array_new_length();
}

__attribute__((visibility("hidden"))) void condition_variable::wait(unique_lock<mutex>& lock) {
  pthread_cond_wait(native_handle(), lock.mutex()->native_handle());
}
}  // namespace std

extern "C" __attribute__((visibility("hidden"))) const char* strerrorname_np(int errnum) noexcept {
  switch (errnum) {
#define NAME(e) \
  case e:       \
    return #e;
  NAME(EPERM) NAME(ENOENT) NAME(ESRCH) NAME(EINTR) NAME(EIO) NAME(ENXIO) NAME(E2BIG)
  NAME(ENOEXEC) NAME(EBADF) NAME(ECHILD) NAME(EAGAIN) NAME(ENOMEM) NAME(EACCES) NAME(EFAULT)
  NAME(ENOTBLK) NAME(EBUSY) NAME(EEXIST) NAME(EXDEV) NAME(ENODEV) NAME(ENOTDIR) NAME(EISDIR)
  NAME(EINVAL) NAME(ENFILE) NAME(EMFILE) NAME(ENOTTY) NAME(ETXTBSY) NAME(EFBIG) NAME(ENOSPC)
  NAME(ESPIPE) NAME(EROFS) NAME(EMLINK) NAME(EPIPE) NAME(EDOM) NAME(ERANGE) NAME(EDEADLK)
  NAME(ENAMETOOLONG) NAME(ENOLCK) NAME(ENOSYS) NAME(ENOTEMPTY) NAME(ELOOP) NAME(ENOMSG)
  NAME(EIDRM) NAME(ECHRNG) NAME(EL2NSYNC) NAME(EL3HLT) NAME(EL3RST) NAME(ELNRNG) NAME(EUNATCH)
  NAME(ENOCSI) NAME(EL2HLT) NAME(EBADE) NAME(EBADR) NAME(EXFULL) NAME(ENOANO) NAME(EBADRQC)
  NAME(EBADSLT) NAME(EBFONT) NAME(ENOSTR) NAME(ENODATA) NAME(ETIME) NAME(ENOSR) NAME(ENONET)
  NAME(ENOPKG) NAME(EREMOTE) NAME(ENOLINK) NAME(EADV) NAME(ESRMNT) NAME(ECOMM) NAME(EPROTO)
  NAME(EMULTIHOP) NAME(EDOTDOT) NAME(EBADMSG) NAME(EOVERFLOW) NAME(ENOTUNIQ) NAME(EBADFD)
  NAME(EREMCHG) NAME(ELIBACC) NAME(ELIBBAD) NAME(ELIBSCN) NAME(ELIBMAX) NAME(ELIBEXEC)
  NAME(EILSEQ) NAME(ERESTART) NAME(ESTRPIPE) NAME(EUSERS) NAME(ENOTSOCK) NAME(EDESTADDRREQ)
  NAME(EMSGSIZE) NAME(EPROTOTYPE) NAME(ENOPROTOOPT) NAME(EPROTONOSUPPORT) NAME(ESOCKTNOSUPPORT)
  NAME(EOPNOTSUPP) NAME(EPFNOSUPPORT) NAME(EAFNOSUPPORT) NAME(EADDRINUSE) NAME(EADDRNOTAVAIL)
  NAME(ENETDOWN) NAME(ENETUNREACH) NAME(ENETRESET) NAME(ECONNABORTED) NAME(ECONNRESET)
  NAME(ENOBUFS) NAME(EISCONN) NAME(ENOTCONN) NAME(ESHUTDOWN) NAME(ETOOMANYREFS) NAME(ETIMEDOUT)
  NAME(ECONNREFUSED) NAME(EHOSTDOWN) NAME(EHOSTUNREACH) NAME(EALREADY) NAME(EINPROGRESS)
  NAME(ESTALE) NAME(EUCLEAN) NAME(ENOTNAM) NAME(ENAVAIL) NAME(EISNAM) NAME(EREMOTEIO)
  NAME(EDQUOT) NAME(ENOMEDIUM) NAME(EMEDIUMTYPE) NAME(ECANCELED) NAME(ENOKEY) NAME(EKEYEXPIRED)
  NAME(EKEYREVOKED) NAME(EKEYREJECTED) NAME(EOWNERDEAD) NAME(ENOTRECOVERABLE) NAME(ERFKILL)
  NAME(EHWPOISON)
#undef NAME
    default:
      return nullptr;
  }
}
