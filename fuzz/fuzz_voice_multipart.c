/* fuzz_voice_multipart.c - libFuzzer entry for the multipart/form-data
 * parser of POST /v1/audio/transcriptions (first line: the Content-Type). */
#include <stddef.h>
#include <stdint.h>
int vf__fuzz_voice_multipart(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return vf__fuzz_voice_multipart(data, size); }
