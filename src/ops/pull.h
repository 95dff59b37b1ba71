/* pull.h - `voxfit pull`: download the files of a model from the Hugging
 * Face Hub (or a mirror: HF_ENDPOINT; gated repositories: HF_TOKEN) into the
 * cache folder, resuming interrupted downloads with HTTP ranges and checking
 * every file's size and checksum (sha256 of LFS objects, the git blob id of
 * small files) against the hub's metadata. The cache:
 *
 *   <cache>/hub/<owner>--<name>/<revision>/<files as in the repository>
 *   <cache>/hub/<owner>--<name>/<revision>/.voxfit-manifest.json
 *
 * See docs/internals/ops.md. */
#ifndef VF_OPS_PULL_H
#define VF_OPS_PULL_H

#include "hub.h"

#include <signal.h>
#include <stdio.h>

struct vf_pull_opts {
    const char *cache_dir;   /* the cache folder (vf_pull_default_cache) */
    const char *endpoint;    /* "https://huggingface.co" or HF_ENDPOINT, no trailing '/' */
    const char *token;       /* HF_TOKEN, or NULL */
    const char *revision;    /* branch, tag or commit ("main") */
    const char *engine_hint; /* picks the format of a catalog id, may be NULL */
    const char *include;     /* a glob for a repository outside the catalog, or NULL */
    int retries;             /* further attempts per request after a transient failure */
    double retry_wait_s;     /* the first wait between attempts, doubled each time */
    int stall_timeout_s;     /* abort a transfer that moves no byte for this long */
    bool progress_bar;       /* redraw one progress line (a terminal) instead of lines */
    bool dry_run;            /* list the files and sizes, download nothing */
    FILE *out;               /* results */
    FILE *progress;          /* progress and retries (stderr) */
    volatile sig_atomic_t *interrupted; /* set by a signal handler: stop, keep the .part */
};

void vf_pull_opts_default(struct vf_pull_opts *o);

struct vf_pull_result {
    char path[1024];        /* what to give voxfit: the file (first shard) or the folder */
    char dir[1024];         /* the repository's folder in the cache */
    uint64_t bytes_total;   /* the selected files */
    uint64_t bytes_fetched; /* downloaded by this call */
    int n_files, n_fetched;
    bool nothing;       /* the model needs no download (espeak-ng) */
    bool unreachable;   /* the hub could not be reached at all */
    char expected[300]; /* the files it needs, for messages when it fails */
    char repo[160];
};

/* The cache folder: dir if given, else $VOXFIT_CACHE, else
 * $XDG_CACHE_HOME/voxfit, else ~/.cache/voxfit. */
const char *vf_pull_default_cache(const char *dir, char *buf, size_t n);

/* Download (or check) one model. Returns VF_OK when every file is in the
 * cache and verified; VF_ERR_NOTFOUND (unknown model, repository, revision
 * or file), VF_ERR_ARG, VF_ERR_IO (network or disk, after the retries; the
 * .part files are kept for the next call), VF_ERR_FORMAT (the hub's
 * metadata or a checksum did not match, after the retries), VF_ERR_TOOBIG
 * (not enough disk). err gets one line; r is filled as far as it got. */
int vf_pull_model(const struct vf_pull_opts *o, const char *model, struct vf_pull_result *r,
                  char *err, size_t errlen);

/* Print what is cached: per model its files, size and state (complete,
 * partial with the bytes kept, missing). Returns VF_OK (an empty cache
 * too) or VF_ERR_NOMEM. */
int vf_pull_list(FILE *f, const char *cache_dir, bool json);

/* Where a model is in the cache, complete (files present at their sizes,
 * verified when they were pulled): path gets the file or folder to give an
 * engine. VF_ERR_NOTFOUND otherwise. No network. */
int vf_pull_cached(const char *cache_dir, const char *model, const char *engine_hint, char *path,
                   size_t n);

#endif
