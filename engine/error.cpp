#include "engine/error.h"

#include <cstdio>
#include <cstdlib>

namespace rowshard {

void assertion_failed(const char* condition, const char* file, int line) {
  std::fprintf(stderr, "rowshard internal error: %s failed at %s:%d\n",
               condition, file, line);
  std::abort();
}

}  // namespace rowshard
