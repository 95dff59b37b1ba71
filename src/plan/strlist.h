/* strlist.h - a growable list of owned strings (explanations, warnings,
 * errors), capped so a runaway producer cannot exhaust memory. */
#ifndef VF_STRLIST_H
#define VF_STRLIST_H

#include "../core/vf.h"

#define VF_STRLIST_MAX 256

struct vf_strlist {
    char **v;
    size_t n;
};

/* Append a formatted line; VF_ERR_TOOBIG past VF_STRLIST_MAX, VF_ERR_NOMEM. */
int vf_strlist_addf(struct vf_strlist *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vf_strlist_free(struct vf_strlist *l);
void vf_strlist_clear(struct vf_strlist *l);

#endif
