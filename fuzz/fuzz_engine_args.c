/* fuzz_engine_args.c - libFuzzer entry for the engine flag parser. */
#include <stddef.h>
#include <stdint.h>
int vf__fuzz_engine_args(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return vf__fuzz_engine_args(data, size); }
