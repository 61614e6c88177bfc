#include "adapters/foundation/allocator.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace jcas {

void keep_freed_memory_for_reuse() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 256 << 20);  // blocks under 256 MiB come from the heap
  mallopt(M_TRIM_THRESHOLD, 1 << 30);    // and up to 1 GiB of freed heap is kept
  mallopt(M_TOP_PAD, 64 << 20);
#endif
}

}  // namespace jcas
