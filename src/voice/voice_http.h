/* voice_http.h - registration of the voice loop's routes on the HTTP layer
 * of `voxfit serve`: GET / and /web/... (the page), the websocket
 * /v1/realtime, POST /v1/audio/transcriptions, POST /v1/audio/speech and
 * GET /v1/voice/status. See voice.h and docs/internals/voice.md. */
#ifndef VF_VOICE_HTTP_H
#define VF_VOICE_HTTP_H

#include "voice.h"

struct vf_http_server;

/* Add the routes (before the server starts). v must outlive the server's
 * handlers. Returns VF_OK or the route table's error (err set). */
int vf_voice_register(struct vf_http_server *http, struct vf_voice *v, char *err, size_t errlen);

#endif
