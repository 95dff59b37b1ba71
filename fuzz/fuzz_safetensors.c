/* fuzz_safetensors.c - libFuzzer entry for the safetensors reader. */
#include <stddef.h>
#include <stdint.h>
int vf__fuzz_safetensors(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return vf__fuzz_safetensors(data, size); }
