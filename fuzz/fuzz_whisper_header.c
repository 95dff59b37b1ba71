/* fuzz_whisper_header.c - libFuzzer entry for the whisper_header reader. */
#include <stddef.h>
#include <stdint.h>
int vf__fuzz_whisper_header(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return vf__fuzz_whisper_header(data, size); }
