/* strlist.c - see strlist.h. */
#include "strlist.h"

#include <stdarg.h>
#include <stdio.h>

int vf_strlist_addf(struct vf_strlist *l, const char *fmt, ...) {
    if (l->n >= VF_STRLIST_MAX)
        return VF_ERR_TOOBIG;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **v = vf_realloc(l->v, (l->n + 1) * sizeof *v);
    if (!v)
        return VF_ERR_NOMEM;
    l->v = v;
    char *s = vf_strdup(buf);
    if (!s)
        return VF_ERR_NOMEM;
    l->v[l->n++] = s;
    return VF_OK;
}

void vf_strlist_clear(struct vf_strlist *l) {
    for (size_t i = 0; i < l->n; i++)
        vf_free(l->v[i]);
    l->n = 0;
}

void vf_strlist_free(struct vf_strlist *l) {
    vf_strlist_clear(l);
    vf_free(l->v);
    l->v = NULL;
}
