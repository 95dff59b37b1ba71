/* measure.h - what `voxfit measure --stt FILE` prints: the real buffers of
 * the embedded Whisper for a model file, in the schema of `voxfit plan
 * --json` (see measure.c). */
#ifndef VF_STT_MEASURE_H
#define VF_STT_MEASURE_H

#include "../core/vf.h"

#include <stdio.h>

/* Load path, create sessions streams (flash_attn: 1 on, 0 off, -1 the
 * default) and print their buffers to out, as JSON or a table. Returns what
 * vf_whisper_measure returns; err gets one line on failure. */
int vf_whisper_measure_print(const char *path, int sessions, int flash_attn, bool json, FILE *out,
                             char *err, size_t errlen);

#endif
