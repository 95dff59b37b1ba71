/* fuzz_ct2.c - libFuzzer entry for the ct2 reader. */
#include <stddef.h>
#include <stdint.h>
int vf__fuzz_ct2(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return vf__fuzz_ct2(data, size); }
