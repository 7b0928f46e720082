#include "rowshard/engine/malloc_tuning.h"

#if __has_include(<malloc.h>)
#include <malloc.h>
#endif

namespace rowshard {

void keep_freed_memory_for_reuse() {
#if defined(M_MMAP_THRESHOLD) && defined(M_TRIM_THRESHOLD)
  // Blocks up to 1 GiB come from the heap (and are reused), and the heap's
  // free top is never trimmed back to the kernel.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

}  // namespace rowshard
