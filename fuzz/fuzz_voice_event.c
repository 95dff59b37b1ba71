/* fuzz_voice_event.c - libFuzzer entry for the realtime session's client
 * event handling (JSON, session.update validation, base64 audio, VAD). */
#include <stddef.h>
#include <stdint.h>
int vf__fuzz_voice_event(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return vf__fuzz_voice_event(data, size); }
