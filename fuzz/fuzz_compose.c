/* fuzz_compose.c - libFuzzer entry for the compose reader. */
#include <stddef.h>
#include <stdint.h>
int vf__fuzz_compose(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return vf__fuzz_compose(data, size); }
