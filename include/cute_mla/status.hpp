// Status codes and the checked result every host entry point returns.
// Nothing in cute-mla throws, exits or aborts on the launch path: callers look
// at the status. The message always names the offending argument first.
#pragma once

#include <cstdarg>
#include <cstdio>

namespace cute_mla {

enum class Status : int {
  kSuccess = 0,
  kErrorInvalidType,      // wrong dtype                      -> TypeError
  kErrorInvalidValue,     // shape, limit, stride, alignment  -> ValueError
  kErrorInvalidDevice,    // tensor on the wrong device       -> RuntimeError
  kErrorArchMismatch,     // GPU is not sm_90                 -> RuntimeError
  kErrorNotImplemented,   // a kernel this build does not have -> NotImplementedError
  kErrorCuda,             // a CUDA runtime call failed       -> RuntimeError
};

inline const char* status_name(Status s) {
  switch (s) {
    case Status::kSuccess: return "success";
    case Status::kErrorInvalidType: return "invalid type";
    case Status::kErrorInvalidValue: return "invalid value";
    case Status::kErrorInvalidDevice: return "invalid device";
    case Status::kErrorArchMismatch: return "architecture mismatch";
    case Status::kErrorNotImplemented: return "not implemented";
    case Status::kErrorCuda: return "CUDA error";
  }
  return "unknown status";
}

// A status plus a human-readable message. Fixed storage: building it cannot
// allocate or throw.
struct CheckResult {
  static constexpr int kMessageSize = 384;
  Status status = Status::kSuccess;
  // Text up to its NUL; the bytes after it are never read. A result starts
  // as "" by clearing one byte, not all 384: validating one decode call makes
  // about a hundred results, and zeroing them all took ~2 us of its host time
  // (measured on a 2-core AMD EPYC VM; 0.6 us for all its checks now).
  char message[kMessageSize];

  CheckResult() { message[0] = '\0'; }

  bool ok() const { return status == Status::kSuccess; }

  static CheckResult success() { return CheckResult(); }

#if defined(__GNUC__) || defined(__clang__)
  __attribute__((format(printf, 2, 3)))
#endif
  static CheckResult
  error(Status status, const char* fmt, ...) {
    CheckResult r;
    r.status = status;
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(r.message, kMessageSize, fmt, ap);
    va_end(ap);
    return r;
  }
};

}  // namespace cute_mla
