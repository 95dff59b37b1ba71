/* hub.h - the Hugging Face Hub as `voxfit pull` sees it: which repository
 * and which files a catalog id needs (a GGUF quantization, a whisper.cpp
 * ggml-*.bin, a CTranslate2 folder, safetensors shards with their config
 * and tokenizer, Kokoro's weights and voice), and the file list the hub's
 * tree API returns (/api/models/{repo}/tree/{revision}), parsed with every
 * path checked before it becomes a local file name. No network here: see
 * pull.h. See docs/internals/ops.md. */
#ifndef VF_OPS_HUB_H
#define VF_OPS_HUB_H

#include "../core/vf.h"

#define VF_HUB_TREE_MAX_BYTES (32u * 1024 * 1024) /* one page of the tree API */
#define VF_HUB_TREE_MAX_FILES 100000
#define VF_HUB_PATH_MAX 512

struct vf_hub_file {
    char *path;       /* repository-relative, checked by vf__hub_path_ok */
    uint64_t size;    /* bytes (the LFS object's size for LFS files) */
    char sha256[65];  /* LFS oid (lower-case hex), "" for files kept in git */
    char git_oid[41]; /* git blob SHA-1, "" when the hub gave none */
};

struct vf_hub_tree {
    struct vf_hub_file *v;
    size_t n, cap;
};

/* Parse one page of the tree API (a JSON array of {type, oid, size, path,
 * lfs: {oid, size}}) and append its files to t; directories are skipped.
 * Entries with an unsafe path, a malformed oid or a negative / non-integer
 * size make the page VF_ERR_FORMAT (err says which), since a hub that sends
 * them cannot be trusted with the rest. VF_ERR_TOOBIG past the bounds
 * above; VF_ERR_NOMEM. On error t keeps the files appended before. */
int vf__hub_tree_parse(const char *json, size_t len, struct vf_hub_tree *t, char *err,
                       size_t errlen);
void vf__hub_tree_free(struct vf_hub_tree *t);

/* A repository-relative path that is safe to create under a folder: not
 * empty, at most VF_HUB_PATH_MAX, no leading '/', no '\\', no empty, "." or
 * ".." segment, no control characters. */
bool vf__hub_path_ok(const char *path);
/* "owner/name" with [A-Za-z0-9._-] on both sides, neither "." nor "..". */
bool vf__hub_repo_ok(const char *repo);

enum vf_hub_kind {
    VF_HUB_NONE = 0,    /* nothing to download (espeak-ng is a system package) */
    VF_HUB_GGUF,        /* the .gguf files of one quantization (all shards) */
    VF_HUB_FILE,        /* one named file (whisper.cpp ggml-*.bin) */
    VF_HUB_GGML_ANY,    /* the ggml*.bin file of a distil-whisper repository */
    VF_HUB_CT2,         /* a CTranslate2 folder: model.bin, config, tokenizer, vocabulary */
    VF_HUB_SAFETENSORS, /* safetensors shards + index + config + tokenizer files */
    VF_HUB_KOKORO,      /* kokoro-v1_0.pth, config.json, voices/<voice>.pt */
    VF_HUB_PATTERN,     /* files matching a glob (--include) */
};

/* What to fetch for one model. */
struct vf_hub_want {
    char model[256]; /* what the user named */
    char repo[160];  /* "Qwen/Qwen3-8B-GGUF" */
    enum vf_hub_kind kind;
    char quant[24];    /* GGUF quantization ("Q4_K_M") */
    char file[160];    /* VF_HUB_FILE: the exact path; VF_HUB_KOKORO: the voice */
    char pattern[160]; /* VF_HUB_PATTERN: the glob */
    int role;          /* enum vf_role of the model, -1 for a bare repository */
};

/* Work out the repository and files for a model reference: a catalog id
 * of any role ("Qwen/Qwen3-8B-GGUF:Q4_K_M", "Qwen/Qwen3-8B-FP8", "large-v3",
 * "kokoro-82m"), engine_hint choosing the format where the id does not
 * ("faster-whisper": CTranslate2, "vllm": safetensors; may be NULL), or a
 * bare "owner/name" repository with include (a glob, may be NULL: then the
 * repository's GGUF/safetensors files are guessed from its name).
 * Returns VF_OK, VF_ERR_NOTFOUND (unknown id; err lists close names) or
 * VF_ERR_ARG. */
int vf__hub_want_for(const char *model, const char *engine_hint, const char *include,
                     struct vf_hub_want *w, char *err, size_t errlen);

/* Choose the files of t that w needs: sel (t->n entries) gets true for
 * each. Returns how many were chosen; 0 when none match (err then says what
 * was looked for and what the repository has). */
size_t vf__hub_select(const struct vf_hub_want *w, const struct vf_hub_tree *t, bool *sel,
                      char *err, size_t errlen);

/* The file name a user would look for when the hub cannot be reached
 * ("*Q4_K_M*.gguf", "ggml-large-v3.bin", "model.bin + config.json + ..."). */
void vf__hub_expected(const struct vf_hub_want *w, char *buf, size_t n);

/* Fuzz entry point: the bytes as a tree page, then the selection of every
 * kind over what parsed (always returns 0). */
int vf__fuzz_hf_tree(const uint8_t *data, size_t size);

#endif
