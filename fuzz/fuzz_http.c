/* fuzz_http.c - libFuzzer entry for the HTTP server: each input is sent as
 * raw bytes over loopback to an in-process voxfit server (civetweb, the
 * route table, auth, body limits, the chat handler over a scripted LLM). */
#include <stddef.h>
#include <stdint.h>
int vf__fuzz_http_request(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return vf__fuzz_http_request(data, size); }
