/* tensor.c - see tensor.h. */
#include "tensor.h"
#include "../core/str.h"

#include <stdlib.h>
#include <string.h>

int vf_tensor_list_add(struct vf_tensor_list *l, const char *name, enum vf_dtype dt, int n_dims,
                       const int64_t *ne, uint64_t offset) {
    if (n_dims < 1 || n_dims > VF_TENSOR_MAX_DIMS)
        return VF_ERR_FORMAT;
    struct vf_tensor t;
    memset(&t, 0, sizeof t);
    if (!vf_strlcpy(t.name, name, sizeof t.name))
        return VF_ERR_FORMAT;
    t.dtype = dt;
    t.n_dims = n_dims;
    uint64_t nel = 1;
    for (int i = 0; i < VF_TENSOR_MAX_DIMS; i++) {
        t.ne[i] = i < n_dims ? ne[i] : 1;
        if (t.ne[i] <= 0 || t.ne[i] > ((int64_t)1 << 40))
            return VF_ERR_FORMAT;
        if (i > 0 && !vf_mul_u64(nel, (uint64_t)t.ne[i], &nel))
            return VF_ERR_FORMAT;
    }
    uint64_t row = vf_dtype_row_size(dt, t.ne[0]);
    if (row == 0 || !vf_mul_u64(row, nel, &t.nbytes))
        return VF_ERR_FORMAT;
    t.offset = offset;
    if (l->n == l->cap) {
        if (l->cap >= VF_TENSOR_LIST_MAX)
            return VF_ERR_TOOBIG;
        size_t cap = l->cap ? l->cap * 2 : 64;
        if (cap > VF_TENSOR_LIST_MAX)
            cap = VF_TENSOR_LIST_MAX;
        struct vf_tensor *v = vf_realloc(l->v, cap * sizeof *v);
        if (!v)
            return VF_ERR_NOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = t;
    return VF_OK;
}

void vf_tensor_list_free(struct vf_tensor_list *l) {
    vf_free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

const struct vf_tensor *vf_tensor_list_find(const struct vf_tensor_list *l, const char *name) {
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].name, name) == 0)
            return &l->v[i];
    return NULL;
}

uint64_t vf_tensor_list_bytes(const struct vf_tensor_list *l) {
    uint64_t s = 0;
    for (size_t i = 0; i < l->n; i++)
        s += l->v[i].nbytes;
    return s;
}

int64_t vf_tensor_nelements(const struct vf_tensor *t) {
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

int vf_tensor_layer(const char *name) {
    static const char *prefixes[] = {"blk.", "model.layers.", "layers.", "encoder.blocks.",
                                     "decoder.blocks.", "model.language_model.layers.",
                                     "language_model.model.layers."};
    for (size_t i = 0; i < VF_ARRAY_LEN(prefixes); i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(name, prefixes[i], n) != 0)
            continue;
        const char *p = name + n;
        int v = 0, digits = 0;
        while (*p >= '0' && *p <= '9' && digits < 6) {
            v = v * 10 + (*p - '0');
            p++;
            digits++;
        }
        if (digits && *p == '.')
            return v;
    }
    return -1;
}
