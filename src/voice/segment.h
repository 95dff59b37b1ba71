/* segment.h - streaming sentence segmentation for text-to-speech: LLM text
 * arrives token by token and each complete sentence is handed to TTS as
 * soon as it is known to be complete. A period does not end a sentence
 * after an abbreviation ("Dr.", "e.g.", "U.S."), an initial ("J. Smith"),
 * inside a number ("3.14", "1,000.5"), after an ordinal list marker ("1.")
 * or when the next word starts in lower case; "?", "!", "..." and blank
 * lines do. A sentence longer than max_chars is cut at the last clause
 * boundary (comma, semicolon, colon, dash) or space so speech starts even
 * when the model never writes a full stop. */
#ifndef VF_VOICE_SEGMENT_H
#define VF_VOICE_SEGMENT_H

#include "../core/vf.h"

struct vf_segmenter; /* opaque */

/* max_chars: longest sentence before a forced cut (>= 16); max_pending:
 * most text held waiting (VF_ERR_TOOBIG from push beyond it). Returns
 * VF_OK, VF_ERR_ARG, VF_ERR_NOMEM. */
int vf_segmenter_init(size_t max_chars, size_t max_pending, struct vf_segmenter **out);
void vf_segmenter_free(struct vf_segmenter *s);
void vf_segmenter_reset(struct vf_segmenter *s);
/* Add text (any UTF-8 split, even inside a character). VF_OK,
 * VF_ERR_TOOBIG (nothing added), VF_ERR_NOMEM. */
int vf_segmenter_push(struct vf_segmenter *s, const char *text, size_t n);
/* The next complete sentence, trimmed, as a vf_malloc'd string the caller
 * frees; NULL when none is complete yet (or on allocation failure). With
 * flush, the rest of the text counts as complete (end of the reply). */
char *vf_segmenter_next(struct vf_segmenter *s, bool flush);

/* Offset just after the end of the first sentence in text[0..n), or 0 when
 * it may still continue (more text could change the decision); with final
 * the text is known to be complete. Exposed for tests. */
size_t vf__segment_find_end(const char *text, size_t n, bool final);

#endif
