// The message of the rowshard::Error that `call` throws, or "no error": for
// tests that check what a refusal says.
#pragma once

#include <functional>
#include <string>

#include "rowshard/engine/error.h"

namespace rowshard {

inline std::string error_of(const std::function<void()>& call) {
  try {
    call();
  } catch (const Error& error) {
    return error.what();
  }
  return "no error";
}

}  // namespace rowshard
