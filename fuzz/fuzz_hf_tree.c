/* fuzz_hf_tree.c - libFuzzer wrapper over the Hugging Face Hub tree
 * parser and the file selection of `voxfit pull` (vf__fuzz_hf_tree). */
#include "ops/hub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return vf__fuzz_hf_tree(data, size); }
