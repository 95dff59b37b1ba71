/* tensor.h - the tensor list every model reader produces and the memory
 * model consumes: name, element type, shape in ggml order (ne[0] is the
 * innermost, contiguous dimension) and size. Readers of row-major formats
 * (safetensors, CTranslate2) reverse their shapes into this order. */
#ifndef VF_TENSOR_H
#define VF_TENSOR_H

#include "dtype.h"

#define VF_TENSOR_NAME_MAX 160
#define VF_TENSOR_MAX_DIMS 4

struct vf_tensor {
    char name[VF_TENSOR_NAME_MAX];
    enum vf_dtype dtype;
    int n_dims;
    int64_t ne[VF_TENSOR_MAX_DIMS]; /* unused dimensions are 1 */
    uint64_t offset;                /* data offset in its file (0 when synthesized) */
    uint64_t nbytes;
};

/* A growable array of tensors with a hard cap on its length. */
struct vf_tensor_list {
    struct vf_tensor *v;
    size_t n;
    size_t cap;
};

#define VF_TENSOR_LIST_MAX 1000000

/* Append a tensor; computes nbytes from dtype and shape. Returns VF_OK,
 * VF_ERR_FORMAT when the shape is invalid for the dtype (or overflows),
 * VF_ERR_TOOBIG past VF_TENSOR_LIST_MAX, VF_ERR_NOMEM. The list is unchanged
 * on error. */
int vf_tensor_list_add(struct vf_tensor_list *l, const char *name, enum vf_dtype dt, int n_dims,
                       const int64_t *ne, uint64_t offset);
void vf_tensor_list_free(struct vf_tensor_list *l);
/* Find a tensor by exact name; NULL when absent. */
const struct vf_tensor *vf_tensor_list_find(const struct vf_tensor_list *l, const char *name);
/* Sum of nbytes. */
uint64_t vf_tensor_list_bytes(const struct vf_tensor_list *l);
/* Number of elements of t. */
int64_t vf_tensor_nelements(const struct vf_tensor *t);
/* Layer index of a name of the form "<prefix>N.<rest>" where prefix is one of
 * "blk.", "model.layers.", "layers.", "encoder.blocks." ...; -1 if none. */
int vf_tensor_layer(const char *name);

#endif
