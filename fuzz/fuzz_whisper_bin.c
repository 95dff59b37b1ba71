/* fuzz_whisper_bin.c - libFuzzer entry for the embedded Whisper's model-file reader (src/stt/wfile.c). */
#include <stddef.h>
#include <stdint.h>
int vf__fuzz_whisper_bin(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return vf__fuzz_whisper_bin(data, size); }
