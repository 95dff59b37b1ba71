/* fuzz_chat_json.c - libFuzzer entry for the chat-completions request
 * parser and the response/chunk builders fed from what it parsed. */
#include <stddef.h>
#include <stdint.h>
int vf__fuzz_chat_request(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return vf__fuzz_chat_request(data, size); }
