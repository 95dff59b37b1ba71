/* fuzz_gguf.c - libFuzzer entry for the gguf reader. */
#include <stddef.h>
#include <stdint.h>
int vf__fuzz_gguf(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return vf__fuzz_gguf(data, size); }
