// Process-wide allocator settings for a training process.
#pragma once

namespace rowshard {

// Makes glibc's malloc keep freed memory for reuse instead of returning it
// to the kernel. Every step allocates and frees the same tens of megabytes
// (a lookup's ids and output, the gradients); by default glibc maps blocks
// that large afresh each time and unmaps them on free, so each step pays a
// page fault and a zero-fill per 4 KiB (BENCHMARKS.md, "Keeping freed memory").
//
// Call once, early in main(); it affects the whole process. Does nothing
// on other C libraries. Tables are mapped directly and are not affected.
void keep_freed_memory_for_reuse();

}  // namespace rowshard
