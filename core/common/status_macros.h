// Local equivalents of Abseil's status macros (absl/status/status_macros.h is not in Debian 12's
// Abseil 20220623). Same meaning, VMMD_ prefix so a later swap is mechanical.
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define VMMD_STATUS_CONCAT_INNER_(a, b) a##b
#define VMMD_STATUS_CONCAT_(a, b) VMMD_STATUS_CONCAT_INNER_(a, b)

// Returns the status from the enclosing function if `expr` is not OK.
#define VMMD_RETURN_IF_ERROR(expr)                  \
  do {                                              \
    if (::absl::Status vmmd_status_ = (expr);       \
        !vmmd_status_.ok()) {                       \
      return vmmd_status_;                          \
    }                                               \
  } while (false)

// `lhs` = the value of the StatusOr `expr`, or return its status from the enclosing function.
#define VMMD_ASSIGN_OR_RETURN(lhs, expr) \
  VMMD_ASSIGN_OR_RETURN_IMPL_(VMMD_STATUS_CONCAT_(vmmd_statusor_, __LINE__), lhs, expr)

#define VMMD_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, expr) \
  auto statusor = (expr);                                \
  if (!statusor.ok()) {                                  \
    return std::move(statusor).status();                 \
  }                                                      \
  lhs = std::move(statusor).value()
