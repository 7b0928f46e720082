#include "rowshard/engine/error.h"

#include <cstdio>
#include <cstdlib>
#include <new>

namespace rowshard {

std::string error_text(const std::exception& error) {
  if (dynamic_cast<const std::bad_alloc*>(&error))
    return "out of memory: the system refused an allocation; the sizes asked for need more "
           "memory than this process may use (physical memory, ulimit -v)";
  return error.what();
}

void assertion_failed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "rowshard internal error: %s failed at %s:%d\n", condition, file, line);
  std::abort();
}

}  // namespace rowshard
