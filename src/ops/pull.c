/* pull.c - see pull.h. One libcurl easy handle per request, one request at
 * a time. A file is written to <name>.part and renamed only after its size
 * and checksum match the hub's metadata, so a file under its final name is
 * always whole; the .part is what a later call resumes from (HTTP Range),
 * hashing the bytes already there first. Transient failures (a dropped
 * connection, 5xx, 429, a stall) are retried with a doubling wait; a
 * checksum mismatch discards the .part and downloads again; 401/403/404 and
 * a full disk stop at once. */
#include "pull.h"
#include "../core/reader.h"
#include "../core/str.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#define MANIFEST ".voxfit-manifest.json"
#define MANIFEST_MAX (16u * 1024 * 1024)
#define TREE_PAGES_MAX 1000
#define PATH_N 1400

static uint64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void vf_pull_opts_default(struct vf_pull_opts *o) {
    memset(o, 0, sizeof *o);
    o->endpoint = "https://huggingface.co";
    o->revision = "main";
    o->retries = 5;
    o->retry_wait_s = 2;
    o->stall_timeout_s = 60;
    o->out = stdout;
    o->progress = stderr;
}

const char *vf_pull_default_cache(const char *dir, char *buf, size_t n) {
    const char *env = getenv("VOXFIT_CACHE");
    const char *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (dir && *dir)
        vf_strlcpy(buf, dir, n);
    else if (env && *env)
        vf_strlcpy(buf, env, n);
    else if (xdg && *xdg)
        snprintf(buf, n, "%s/voxfit", xdg);
    else
        snprintf(buf, n, "%s/.cache/voxfit", home && *home ? home : "/tmp");
    return buf;
}

/* ==== Paths ==== */

/* a/b into out; false when it does not fit (the caller then fails). */
static bool joinp(char *out, size_t n, const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la + lb + 2 > n)
        return false;
    memcpy(out, a, la);
    out[la] = '/';
    memcpy(out + la + 1, b, lb + 1);
    return true;
}

static int mkdirs(const char *path) {
    char tmp[PATH_N];
    if (!vf_strlcpy(tmp, path, sizeof tmp))
        return VF_ERR_TOOBIG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return VF_ERR_IO;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return VF_ERR_IO;
    return VF_OK;
}

/* "<cache>/hub/<owner>--<name>/<revision>", the revision made a safe name. */
static void repo_dir(const char *cache, const char *repo, const char *rev, char *out, size_t n) {
    char r[160], v[200];
    size_t j = 0;
    for (size_t i = 0; repo[i] && j + 3 < sizeof r; i++) {
        if (repo[i] == '/') {
            r[j++] = '-';
            r[j++] = '-';
        } else {
            r[j++] = repo[i];
        }
    }
    r[j] = '\0';
    j = 0;
    for (size_t i = 0; rev[i] && j + 3 < sizeof v; i++) {
        unsigned char c = (unsigned char)rev[i];
        if (c == '/') {
            v[j++] = '-';
            v[j++] = '-';
        } else {
            v[j++] = (char)((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'
                                ? c
                                : '_');
        }
    }
    v[j] = '\0';
    if (!strcmp(v, ".") || !strcmp(v, "..") || !v[0])
        vf_strlcpy(v, "_", sizeof v);
    snprintf(out, n, "%s/hub/%s/%s", cache, r, v);
}

static const char *kind_name(enum vf_hub_kind k) {
    static const char *n[] = {"none", "gguf",        "file",   "ggml",
                              "ct2",  "safetensors", "kokoro", "pattern"};
    return (size_t)k < VF_ARRAY_LEN(n) ? n[k] : "?";
}

/* The manifest key of a model: the same for every spelling of one id. */
static void want_key(const struct vf_hub_want *w, char *buf, size_t n) {
    const char *what = w->kind == VF_HUB_GGUF                               ? w->quant
                       : w->kind == VF_HUB_PATTERN                          ? w->pattern
                       : w->kind == VF_HUB_FILE || w->kind == VF_HUB_KOKORO ? w->file
                                                                            : "";
    char up[160];
    size_t i = 0;
    for (; what[i] && i + 1 < sizeof up; i++)
        up[i] = (char)(w->kind == VF_HUB_GGUF && what[i] >= 'a' && what[i] <= 'z' ? what[i] - 32
                                                                                  : what[i]);
    up[i] = '\0';
    snprintf(buf, n, "%s:%s:%s", kind_name(w->kind), w->repo, up);
}

/* ==== The manifest ==== */

static cJSON *manifest_load(const char *dir) {
    char path[PATH_N];
    snprintf(path, sizeof path, "%s/%s", dir, MANIFEST);
    cJSON *m = NULL;
    FILE *f = fopen(path, "rb");
    if (f) {
        char *buf = vf_malloc(MANIFEST_MAX);
        if (buf) {
            size_t n = fread(buf, 1, MANIFEST_MAX, f);
            if (n < MANIFEST_MAX)
                m = cJSON_ParseWithLength(buf, n);
            vf_free(buf);
        }
        fclose(f);
    }
    if (m && !cJSON_IsObject(m)) {
        cJSON_Delete(m);
        m = NULL;
    }
    if (!m)
        m = cJSON_CreateObject();
    if (!m)
        return NULL;
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(m, "files"))) {
        cJSON_DeleteItemFromObjectCaseSensitive(m, "files");
        cJSON_AddObjectToObject(m, "files");
    }
    if (!cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(m, "models"))) {
        cJSON_DeleteItemFromObjectCaseSensitive(m, "models");
        cJSON_AddObjectToObject(m, "models");
    }
    return m;
}

static int manifest_save(const char *dir, cJSON *m) {
    char path[PATH_N], tmp[PATH_N];
    snprintf(path, sizeof path, "%s/%s", dir, MANIFEST);
    snprintf(tmp, sizeof tmp, "%s/%s.tmp", dir, MANIFEST);
    char *s = cJSON_Print(m);
    if (!s)
        return VF_ERR_NOMEM;
    FILE *f = fopen(tmp, "wb");
    int rc = VF_ERR_IO;
    if (f) {
        size_t len = strlen(s);
        bool ok = fwrite(s, 1, len, f) == len;
        ok = fflush(f) == 0 && ok;
        ok = fclose(f) == 0 && ok;
        if (ok && rename(tmp, path) == 0)
            rc = VF_OK;
        else
            unlink(tmp);
    }
    cJSON_free(s);
    return rc;
}

static void set_str(cJSON *o, const char *k, const char *v) {
    cJSON_DeleteItemFromObjectCaseSensitive(o, k);
    cJSON_AddStringToObject(o, k, v);
}

static void manifest_file(cJSON *m, const struct vf_hub_file *f) {
    cJSON *files = cJSON_GetObjectItemCaseSensitive(m, "files");
    cJSON_DeleteItemFromObjectCaseSensitive(files, f->path);
    cJSON *o = cJSON_AddObjectToObject(files, f->path);
    if (!o)
        return;
    cJSON_AddNumberToObject(o, "size", (double)f->size);
    if (f->sha256[0])
        cJSON_AddStringToObject(o, "sha256", f->sha256);
    if (f->git_oid[0])
        cJSON_AddStringToObject(o, "git_oid", f->git_oid);
    cJSON_AddBoolToObject(o, "verified", true);
}

/* The file is recorded as verified with the same checksums. */
static bool manifest_has(cJSON *m, const struct vf_hub_file *f) {
    const cJSON *o =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(m, "files"), f->path);
    const cJSON *size = cJSON_GetObjectItemCaseSensitive(o, "size");
    const cJSON *sha = cJSON_GetObjectItemCaseSensitive(o, "sha256");
    const cJSON *oid = cJSON_GetObjectItemCaseSensitive(o, "git_oid");
    if (!cJSON_IsNumber(size) || !(size->valuedouble >= 0 && size->valuedouble < 1.8e19) ||
        (uint64_t)size->valuedouble != f->size ||
        !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "verified")))
        return false;
    if (f->sha256[0] && !(cJSON_IsString(sha) && !strcmp(sha->valuestring, f->sha256)))
        return false;
    if (!f->sha256[0] && f->git_oid[0] &&
        !(cJSON_IsString(oid) && !strcmp(oid->valuestring, f->git_oid)))
        return false;
    return true;
}

static uint64_t file_size(const char *path, bool *exists) {
    struct stat st;
    *exists = stat(path, &st) == 0 && S_ISREG(st.st_mode);
    return *exists ? (uint64_t)st.st_size : 0;
}

/* ==== HTTP ==== */

struct hdrs {
    long status;
    char linked_etag[128];
    uint64_t linked_size;
    bool has_linked_size;
    char commit[64];
    uint64_t range_start;
    bool has_range;
    double retry_after;
    char next[2048];
};

static void trim(char *s) {
    size_t n = strlen(s);
    while (n && (s[n - 1] == '\r' || s[n - 1] == '\n' || s[n - 1] == ' '))
        s[--n] = '\0';
}

/* Strip W/ and quotes from an ETag: W/"abc" -> abc. */
static void etag_clean(const char *in, char *out, size_t n) {
    if (!strncmp(in, "W/", 2))
        in += 2;
    size_t l = strlen(in);
    if (l >= 2 && in[0] == '"' && in[l - 1] == '"') {
        in++;
        l -= 2;
    }
    if (l >= n)
        l = n - 1;
    memcpy(out, in, l);
    out[l] = '\0';
}

/* Link: <url>; rel="next", <url2>; rel="prev" */
static void parse_link(const char *v, char *next, size_t n) {
    const char *p = v;
    while (p && *p) {
        const char *lt = strchr(p, '<'), *gt = lt ? strchr(lt, '>') : NULL;
        if (!gt)
            return;
        const char *end = strchr(gt, ',');
        size_t seg = end ? (size_t)(end - gt) : strlen(gt);
        char rel[256];
        snprintf(rel, sizeof rel, "%.*s", (int)VF_MIN(seg, sizeof rel - 1), gt);
        if (strstr(rel, "rel=\"next\"") || strstr(rel, "rel=next")) {
            size_t ul = (size_t)(gt - lt - 1);
            if (ul < n) {
                memcpy(next, lt + 1, ul);
                next[ul] = '\0';
            }
            return;
        }
        p = end ? end + 1 : NULL;
    }
}

static size_t header_cb(char *b, size_t sz, size_t nm, void *ud) {
    struct hdrs *h = ud;
    size_t len = sz * nm;
    char line[2400];
    size_t l = VF_MIN(len, sizeof line - 1);
    memcpy(line, b, l);
    line[l] = '\0';
    trim(line);
    if (!strncmp(line, "HTTP/", 5)) {
        /* a new response (after a redirect): its own status and range; the
         * hub's X-Linked-* headers of the first response stay */
        const char *sp = strchr(line, ' ');
        h->status = sp ? strtol(sp + 1, NULL, 10) : 0;
        h->has_range = false;
        h->retry_after = 0;
        h->next[0] = '\0';
        return len;
    }
    char *colon = strchr(line, ':');
    if (!colon)
        return len;
    *colon = '\0';
    char *v = colon + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    if (!vf_strcasecmp(line, "x-linked-etag")) {
        etag_clean(v, h->linked_etag, sizeof h->linked_etag);
    } else if (!vf_strcasecmp(line, "x-linked-size")) {
        int64_t x;
        if (vf_parse_i64(v, 0, INT64_MAX, &x) == VF_OK) {
            h->linked_size = (uint64_t)x;
            h->has_linked_size = true;
        }
    } else if (!vf_strcasecmp(line, "x-repo-commit")) {
        vf_strlcpy(h->commit, v, sizeof h->commit);
    } else if (!vf_strcasecmp(line, "content-range")) {
        /* bytes START-END/TOTAL */
        unsigned long long s;
        if (sscanf(v, "bytes %llu-", &s) == 1) {
            h->range_start = s;
            h->has_range = true;
        }
    } else if (!vf_strcasecmp(line, "retry-after")) {
        double d;
        if (vf_parse_double(v, 0, 3600, &d) == VF_OK)
            h->retry_after = d;
    } else if (!vf_strcasecmp(line, "link")) {
        parse_link(v, h->next, sizeof h->next);
    }
    return len;
}

static CURL *handle(const struct vf_pull_opts *o, const char *url, struct hdrs *h) {
    CURL *c = curl_easy_init();
    if (!c)
        return NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "voxfit/" VOXFIT_VERSION);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
                     (long)(o->stall_timeout_s > 0 ? o->stall_timeout_s : 60));
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
    if (o->token && *o->token) {
        /* credentials go to the hub's host only, not to the CDN it redirects to */
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
        curl_easy_setopt(c, CURLOPT_XOAUTH2_BEARER, o->token);
    }
    return c;
}

static bool transient(CURLcode cc, long status) {
    switch (cc) {
    case CURLE_OK: return status == 408 || status == 429 || status >= 500;
    case CURLE_COULDNT_CONNECT:
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return true;
    default: return false;
    }
}

static bool unreachable(CURLcode cc) {
    return cc == CURLE_COULDNT_RESOLVE_HOST || cc == CURLE_COULDNT_RESOLVE_PROXY ||
           cc == CURLE_COULDNT_CONNECT;
}

static bool stop(const struct vf_pull_opts *o) { return o->interrupted && *o->interrupted; }

/* Wait before attempt k (k >= 1), in small steps so a signal stops it. */
static void backoff(const struct vf_pull_opts *o, int k, double retry_after) {
    double w = o->retry_wait_s;
    for (int i = 1; i < k && w < 60; i++)
        w *= 2;
    if (retry_after > w)
        w = retry_after;
    if (w > 60)
        w = 60;
    uint64_t end = now_ms() + (uint64_t)(w * 1000);
    while (!stop(o) && now_ms() < end) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

static void status_error(long status, const char *what, const char *repo, char *err,
                         size_t errlen) {
    if (status == 401 || status == 403)
        vf_errf(err, errlen,
                "the hub refused %s (HTTP %ld): %s is gated or private, or does not exist; "
                "set HF_TOKEN to a token with access (https://huggingface.co/settings/tokens) and "
                "accept the model's terms on its page",
                what, status, repo);
    else if (status == 404)
        vf_errf(err, errlen, "not found (HTTP 404): %s", what);
    else
        vf_errf(err, errlen, "the hub answered HTTP %ld for %s", status, what);
}

struct membuf {
    char *p;
    size_t n, cap, max;
    bool too_big;
};

static size_t mem_cb(char *b, size_t sz, size_t nm, void *ud) {
    struct membuf *m = ud;
    size_t len = sz * nm;
    if (m->n + len + 1 > m->max) {
        m->too_big = true;
        return 0;
    }
    if (m->n + len + 1 > m->cap) {
        size_t cap = VF_MAX(m->cap * 2, m->n + len + 1);
        cap = VF_MAX(cap, (size_t)16384);
        char *p = vf_realloc(m->p, cap);
        if (!p)
            return 0;
        m->p = p;
        m->cap = cap;
    }
    memcpy(m->p + m->n, b, len);
    m->n += len;
    m->p[m->n] = '\0';
    return len;
}

/* GET a small document (API JSON) with retries. Returns VF_OK with the
 * status in h->status (the caller judges 4xx), or VF_ERR_IO. */
static int get_doc(const struct vf_pull_opts *o, const char *url, struct membuf *m, struct hdrs *h,
                   bool *unreach, char *err, size_t errlen) {
    for (int attempt = 0; attempt <= o->retries; attempt++) {
        if (attempt)
            backoff(o, attempt, h->retry_after);
        if (stop(o)) {
            vf_errf(err, errlen, "interrupted");
            return VF_ERR_IO;
        }
        memset(h, 0, sizeof *h);
        m->n = 0;
        m->too_big = false;
        CURL *c = handle(o, url, h);
        if (!c)
            return VF_ERR_NOMEM;
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, mem_cb);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, m);
        CURLcode cc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
        curl_easy_cleanup(c);
        if (m->too_big) {
            vf_errf(err, errlen, "%s: the answer is larger than %zu bytes", url, m->max);
            return VF_ERR_TOOBIG;
        }
        if (cc == CURLE_OK && !transient(cc, h->status))
            return VF_OK;
        if (cc == CURLE_OK)
            vf_errf(err, errlen, "%s: HTTP %ld", url, h->status);
        else
            vf_errf(err, errlen, "%s: %s", url, curl_easy_strerror(cc));
        if (unreachable(cc) && attempt == 0) {
            /* no name, no route, nobody listening: retrying only delays the news */
            *unreach = true;
            return VF_ERR_IO;
        }
        if (!transient(cc, h->status))
            return VF_ERR_IO;
        if (unreachable(cc))
            *unreach = true;
        if (attempt < o->retries)
            fprintf(o->progress, "  retry %d/%d: %s\n", attempt + 1, o->retries, err);
    }
    return VF_ERR_IO;
}

/* Percent-encode each path segment, keeping the slashes. */
static int escape_path(const char *p, char *out, size_t n) {
    out[0] = '\0';
    size_t used = 0;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t sl = slash ? (size_t)(slash - p) : strlen(p);
        char *e = curl_easy_escape(NULL, p, (int)sl);
        if (!e)
            return VF_ERR_NOMEM;
        int w = snprintf(out + used, n - used, "%s%s", e, slash ? "/" : "");
        curl_free(e);
        if (w < 0 || (size_t)w >= n - used)
            return VF_ERR_TOOBIG;
        used += (size_t)w;
        p = slash ? slash + 1 : p + sl;
    }
    return VF_OK;
}

/* ==== Checksums ==== */

struct hashes {
    EVP_MD_CTX *sha256, *sha1;
};

static int hashes_start(struct hashes *h, uint64_t size) {
    if ((!h->sha256 && !(h->sha256 = EVP_MD_CTX_new())) ||
        (!h->sha1 && !(h->sha1 = EVP_MD_CTX_new())))
        return VF_ERR_NOMEM;
    if (!EVP_DigestInit_ex(h->sha256, EVP_sha256(), NULL) ||
        !EVP_DigestInit_ex(h->sha1, EVP_sha1(), NULL))
        return VF_ERR_BACKEND;
    /* git's blob id: sha1("blob <size>\0" + content) */
    char hdr[48];
    int l = snprintf(hdr, sizeof hdr, "blob %llu", (unsigned long long)size);
    EVP_DigestUpdate(h->sha1, hdr, (size_t)l + 1);
    return VF_OK;
}

static void hashes_update(struct hashes *h, const void *p, size_t n) {
    EVP_DigestUpdate(h->sha256, p, n);
    EVP_DigestUpdate(h->sha1, p, n);
}

static void hex_of(const unsigned char *d, unsigned n, char *out) {
    static const char *x = "0123456789abcdef";
    for (unsigned i = 0; i < n; i++) {
        out[2 * i] = x[d[i] >> 4];
        out[2 * i + 1] = x[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static void hashes_final(struct hashes *h, char sha256[65], char sha1[41]) {
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    EVP_DigestFinal_ex(h->sha256, d, &n);
    hex_of(d, n, sha256);
    EVP_DigestFinal_ex(h->sha1, d, &n);
    hex_of(d, n, sha1);
}

static void hashes_free(struct hashes *h) {
    EVP_MD_CTX_free(h->sha256);
    EVP_MD_CTX_free(h->sha1);
    h->sha256 = h->sha1 = NULL;
}

/* Hash the first n bytes of path into h. */
static int hash_file(const char *path, uint64_t n, struct hashes *h) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return VF_ERR_IO;
    unsigned char *buf = vf_malloc(1 << 20);
    if (!buf) {
        fclose(f);
        return VF_ERR_NOMEM;
    }
    int rc = VF_OK;
    while (n) {
        size_t want = (size_t)VF_MIN(n, (uint64_t)(1 << 20));
        size_t got = fread(buf, 1, want, f);
        if (got != want) {
            rc = VF_ERR_IO;
            break;
        }
        hashes_update(h, buf, got);
        n -= got;
    }
    vf_free(buf);
    fclose(f);
    return rc;
}

/* Whether the digests match what the hub says (sha256 for LFS objects, the
 * git blob id otherwise); what gets the expected and found digests. */
static bool digest_ok(const struct vf_hub_file *f, const char *sha256, const char *sha1, char *what,
                      size_t n) {
    if (f->sha256[0]) {
        snprintf(what, n, "sha256 %s, expected %s", sha256, f->sha256);
        return !strcmp(sha256, f->sha256);
    }
    if (f->git_oid[0]) {
        snprintf(what, n, "git blob id %s, expected %s", sha1, f->git_oid);
        return !strcmp(sha1, f->git_oid);
    }
    snprintf(what, n, "size only (the hub gave no checksum)");
    return true;
}

/* ==== Progress ==== */

struct progress {
    const struct vf_pull_opts *o;
    const char *name;
    uint64_t total, base, start_ms, last_ms;
    int last_decile;
    bool drawn;
};

static void progress_draw(struct progress *p, uint64_t done, bool final) {
    uint64_t t = now_ms();
    FILE *f = p->o->progress;
    if (!f)
        return;
    double pct = p->total ? 100.0 * (double)done / (double)p->total : 100.0;
    char a[32], b[32], r[32];
    double secs = (double)(t - p->start_ms) / 1000.0;
    double rate = secs > 0.2 ? (double)(done - VF_MIN(done, p->base)) / secs : 0;
    vf_fmt_bytes((uint64_t)rate, r, sizeof r);
    if (p->o->progress_bar) {
        if (!final && t - p->last_ms < 100)
            return;
        p->last_ms = t;
        char bar[31];
        int fill = (int)(pct * 30 / 100);
        for (int i = 0; i < 30; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[30] = '\0';
        char eta[32] = "";
        if (rate > 0 && done < p->total) {
            uint64_t s = (uint64_t)((double)(p->total - done) / rate);
            snprintf(eta, sizeof eta, " ETA %llu:%02llu", (unsigned long long)(s / 60),
                     (unsigned long long)(s % 60));
        }
        fprintf(f, "\r  %-28.28s [%s] %5.1f%% %s / %s %s/s%s\033[K", p->name, bar, pct,
                vf_fmt_bytes(done, a, sizeof a), vf_fmt_bytes(p->total, b, sizeof b), r, eta);
        if (final)
            fputc('\n', f);
        fflush(f);
        p->drawn = true;
        return;
    }
    int decile = (int)(pct / 10);
    if (decile <= p->last_decile && (!final || p->last_decile >= 10))
        return;
    p->last_decile = decile;
    fprintf(f, "  %s: %s of %s (%.0f%%)%s%s%s\n", p->name, vf_fmt_bytes(done, a, sizeof a),
            vf_fmt_bytes(p->total, b, sizeof b), pct, rate > 0 ? ", " : "", rate > 0 ? r : "",
            rate > 0 ? "/s" : "");
    fflush(f);
}

/* ==== One file ==== */

struct xfer {
    CURL *c;
    FILE *fp;
    struct hashes *h;
    const struct vf_hub_file *f;
    uint64_t offset;  /* bytes already in the .part when the request started */
    uint64_t written; /* bytes written by this request */
    struct hdrs hd;
    bool started, range_bad, too_long, write_failed, restarted, meta_bad;
    int write_errno;
    struct progress pg;
    char body[256]; /* the start of an error response */
    size_t body_n;
};

static size_t body_cb(char *p, size_t sz, size_t nm, void *ud) {
    struct xfer *x = ud;
    size_t len = sz * nm;
    long code = 0;
    curl_easy_getinfo(x->c, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200 && code != 206) {
        size_t k = VF_MIN(len, sizeof x->body - 1 - x->body_n);
        memcpy(x->body + x->body_n, p, k);
        x->body_n += k;
        x->body[x->body_n] = '\0';
        return len;
    }
    if (!x->started) {
        x->started = true;
        /* the hub's headers must agree with its file list before a byte is kept */
        if ((x->hd.linked_etag[0] && x->f->sha256[0] && strlen(x->hd.linked_etag) == 64 &&
             vf_strcasecmp(x->hd.linked_etag, x->f->sha256)) ||
            (x->hd.has_linked_size && x->hd.linked_size != x->f->size)) {
            x->meta_bad = true;
            return 0;
        }
        if (code == 200 && x->offset > 0) {
            /* the server ignored the range: start the file over */
            if (ftruncate(fileno(x->fp), 0) != 0 || fseeko(x->fp, 0, SEEK_SET) != 0 ||
                hashes_start(x->h, x->f->size) != VF_OK) {
                x->write_failed = true;
                x->write_errno = errno;
                return 0;
            }
            x->offset = 0;
            x->restarted = true;
        } else if (code == 206 && (!x->hd.has_range || x->hd.range_start != x->offset)) {
            x->range_bad = true;
            return 0;
        }
    }
    if (x->offset + x->written + len > x->f->size) {
        x->too_long = true;
        return 0;
    }
    if (fwrite(p, 1, len, x->fp) != len) {
        x->write_failed = true;
        x->write_errno = errno;
        return 0;
    }
    hashes_update(x->h, p, len);
    x->written += len;
    return len;
}

static int xferinfo_cb(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow) {
    (void)dltotal;
    (void)ultotal;
    (void)ulnow;
    struct xfer *x = ud;
    if (dlnow > 0 && x->started)
        progress_draw(&x->pg, x->offset + x->written, false);
    return stop(x->pg.o) ? 1 : 0;
}

enum outcome { DONE, RETRY, RETRY_FRESH, FATAL };

/* One request for the rest of file f into part. */
static enum outcome fetch_once(const struct vf_pull_opts *o, const char *url, const char *repo,
                               const struct vf_hub_file *f, const char *part, struct hashes *h,
                               uint64_t *fetched, int *ret, char *err, size_t errlen) {
    bool exists;
    uint64_t offset = file_size(part, &exists);
    if (offset > f->size) {
        unlink(part);
        offset = 0;
    }
    if (hashes_start(h, f->size) != VF_OK) {
        *ret = VF_ERR_NOMEM;
        return FATAL;
    }
    if (offset && hash_file(part, offset, h) != VF_OK) {
        unlink(part);
        offset = 0;
        if (hashes_start(h, f->size) != VF_OK) {
            *ret = VF_ERR_NOMEM;
            return FATAL;
        }
    }
    struct xfer x;
    memset(&x, 0, sizeof x);
    x.f = f;
    x.h = h;
    x.offset = offset;
    x.pg.o = o;
    x.pg.name = f->path;
    x.pg.total = f->size;
    x.pg.base = offset;
    x.pg.start_ms = now_ms();
    x.pg.last_decile = (int)(f->size ? offset * 10 / f->size : 0);
    if (offset == f->size && f->size > 0)
        goto verify;
    if (offset) {
        char b[32];
        fprintf(o->progress, "  %s: resuming at %s\n", f->path, vf_fmt_bytes(offset, b, sizeof b));
    }
    x.fp = fopen(part, offset ? "ab" : "wb");
    if (!x.fp) {
        vf_errf(err, errlen, "cannot write %s: %s", part, strerror(errno));
        *ret = VF_ERR_IO;
        return FATAL;
    }
    x.c = handle(o, url, &x.hd);
    if (!x.c) {
        fclose(x.fp);
        *ret = VF_ERR_NOMEM;
        return FATAL;
    }
    char range[64];
    if (offset) {
        snprintf(range, sizeof range, "%llu-", (unsigned long long)offset);
        curl_easy_setopt(x.c, CURLOPT_RANGE, range);
    }
    curl_easy_setopt(x.c, CURLOPT_WRITEFUNCTION, body_cb);
    curl_easy_setopt(x.c, CURLOPT_WRITEDATA, &x);
    curl_easy_setopt(x.c, CURLOPT_XFERINFOFUNCTION, xferinfo_cb);
    curl_easy_setopt(x.c, CURLOPT_XFERINFODATA, &x);
    curl_easy_setopt(x.c, CURLOPT_NOPROGRESS, 0L);
    CURLcode cc = curl_easy_perform(x.c);
    long status = 0;
    curl_easy_getinfo(x.c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(x.c);
    bool flushed = fflush(x.fp) == 0 && fsync(fileno(x.fp)) == 0;
    if (fclose(x.fp) != 0)
        flushed = false;
    *fetched += x.written;
    if (x.pg.drawn && o->progress_bar && (cc != CURLE_OK || x.offset + x.written < f->size))
        fputc('\n', o->progress);
    if (stop(o)) {
        vf_errf(err, errlen, "interrupted: %s of %s kept in %s; run voxfit pull again to resume",
                vf_fmt_bytes(x.offset + x.written, range, sizeof range), f->path, part);
        *ret = VF_ERR_IO;
        return FATAL;
    }
    if (x.write_failed || !flushed) {
        vf_errf(err, errlen, "cannot write %s: %s", part,
                strerror(x.write_errno ? x.write_errno : errno));
        *ret = VF_ERR_IO;
        return FATAL;
    }
    /* the hub's own metadata must agree with its file list */
    if (x.hd.linked_etag[0] && f->sha256[0] && strlen(x.hd.linked_etag) == 64 &&
        vf_strcasecmp(x.hd.linked_etag, f->sha256)) {
        vf_errf(err, errlen,
                "%s: the hub's metadata disagree (file list sha256 %s, X-Linked-Etag %s); "
                "the repository changed during the pull? run it again",
                f->path, f->sha256, x.hd.linked_etag);
        *ret = VF_ERR_FORMAT;
        return FATAL;
    }
    if (x.hd.has_linked_size && x.hd.linked_size != f->size) {
        vf_errf(err, errlen,
                "%s: the hub's metadata disagree (file list %llu bytes, X-Linked-Size %llu)",
                f->path, (unsigned long long)f->size, (unsigned long long)x.hd.linked_size);
        *ret = VF_ERR_FORMAT;
        return FATAL;
    }
    if (x.range_bad) {
        vf_errf(err, errlen, "%s: the server resumed at the wrong offset", f->path);
        return RETRY_FRESH;
    }
    if (x.too_long) {
        vf_errf(err, errlen, "%s: the server sent more than the %llu bytes the hub lists", f->path,
                (unsigned long long)f->size);
        return RETRY_FRESH;
    }
    if (cc == CURLE_OK && status == 416 && offset) {
        vf_errf(err, errlen, "%s: the server refused to resume (HTTP 416)", f->path);
        return RETRY_FRESH;
    }
    if (cc == CURLE_OK && status != 200 && status != 206) {
        if (!transient(cc, status)) {
            char what[600];
            vf_strlcpy(what, url, sizeof what);
            status_error(status, what, repo, err, errlen);
            *ret = status == 404 ? VF_ERR_NOTFOUND : VF_ERR_IO;
            return FATAL;
        }
        vf_errf(err, errlen, "%s: HTTP %ld", f->path, status);
        return RETRY;
    }
    if (cc != CURLE_OK) {
        vf_errf(err, errlen, "%s: %s after %s", f->path, curl_easy_strerror(cc),
                vf_fmt_bytes(x.offset + x.written, range, sizeof range));
        if (!transient(cc, status)) {
            *ret = VF_ERR_IO;
            return FATAL;
        }
        return RETRY;
    }
    if (x.offset + x.written < f->size) {
        vf_errf(err, errlen, "%s: the transfer ended at %llu of %llu bytes", f->path,
                (unsigned long long)(x.offset + x.written), (unsigned long long)f->size);
        return RETRY;
    }
verify:;
    progress_draw(&x.pg, f->size, true);
    char sha256[65], sha1[41], what[200];
    hashes_final(h, sha256, sha1);
    if (!digest_ok(f, sha256, sha1, what, sizeof what)) {
        vf_errf(err, errlen, "%s: checksum mismatch (%s): the download was corrupted; discarded",
                f->path, what);
        unlink(part);
        return RETRY_FRESH;
    }
    return DONE;
}

static int fetch_file(const struct vf_pull_opts *o, const char *base_url, const char *repo,
                      const struct vf_hub_file *f, const char *dir, uint64_t *fetched, char *err,
                      size_t errlen) {
    char path[PATH_N], part[PATH_N], esc[2048], url[4096];
    if (!joinp(path, sizeof path, dir, f->path) ||
        snprintf(part, sizeof part, "%s.part", path) >= (int)sizeof part) {
        vf_errf(err, errlen, "path too long: %s/%s", dir, f->path);
        return VF_ERR_TOOBIG;
    }
    char parent[PATH_N];
    vf_strlcpy(parent, path, sizeof parent);
    char *slash = strrchr(parent, '/');
    if (slash)
        *slash = '\0';
    if (mkdirs(parent) != VF_OK) {
        vf_errf(err, errlen, "cannot create %s: %s", parent, strerror(errno));
        return VF_ERR_IO;
    }
    int rc = escape_path(f->path, esc, sizeof esc);
    if (rc)
        return rc;
    snprintf(url, sizeof url, "%s/%s", base_url, esc);
    if (f->size == 0) {
        FILE *e = fopen(path, "wb");
        if (!e || fclose(e) != 0) {
            vf_errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
            return VF_ERR_IO;
        }
        return VF_OK;
    }
    struct hashes h = {0};
    int ret = VF_ERR_IO;
    bool checksum_failed = false;
    for (int attempt = 0; attempt <= o->retries; attempt++) {
        enum outcome oc = fetch_once(o, url, repo, f, part, &h, fetched, &ret, err, errlen);
        if (oc == DONE) {
            hashes_free(&h);
            if (rename(part, path) != 0) {
                vf_errf(err, errlen, "cannot rename %s: %s", part, strerror(errno));
                return VF_ERR_IO;
            }
            return VF_OK;
        }
        if (oc == FATAL) {
            hashes_free(&h);
            return ret;
        }
        checksum_failed = strstr(err, "checksum mismatch") != NULL;
        if (oc == RETRY_FRESH)
            unlink(part);
        if (attempt < o->retries) {
            fprintf(o->progress, "  retry %d/%d: %s\n", attempt + 1, o->retries, err);
            backoff(o, attempt + 1, 0);
        }
    }
    hashes_free(&h);
    char last[600];
    vf_strlcpy(last, err, sizeof last);
    vf_errf(err, errlen, "gave up after %d attempts: %s", o->retries + 1, last);
    return checksum_failed ? VF_ERR_FORMAT : VF_ERR_IO;
}

/* ==== One model ==== */

/* Check a file already under its final name: recorded as verified, or
 * hashed now (a file put there by hand). */
static bool have_file(const char *dir, cJSON *man, const struct vf_hub_file *f) {
    char path[PATH_N];
    snprintf(path, sizeof path, "%s/%s", dir, f->path);
    bool exists;
    uint64_t size = file_size(path, &exists);
    if (!exists || size != f->size)
        return false;
    if (manifest_has(man, f))
        return true;
    struct hashes h = {0};
    bool ok = false;
    if (hashes_start(&h, f->size) == VF_OK && hash_file(path, f->size, &h) == VF_OK) {
        char sha256[65], sha1[41], what[200];
        hashes_final(&h, sha256, sha1);
        ok = digest_ok(f, sha256, sha1, what, sizeof what);
    }
    hashes_free(&h);
    return ok;
}

static int list_tree(const struct vf_pull_opts *o, const char *repo, const char *rev_esc,
                     struct vf_hub_tree *t, bool *unreach, char *err, size_t errlen) {
    char base[1024], url[4096];
    snprintf(base, sizeof base, "%s/api/models/%s/tree/%s", o->endpoint, repo, rev_esc);
    snprintf(url, sizeof url, "%s?recursive=true", base);
    struct membuf m = {NULL, 0, 0, VF_HUB_TREE_MAX_BYTES + 1, false};
    int rc = VF_OK;
    for (int page = 0; page < TREE_PAGES_MAX; page++) {
        struct hdrs h;
        rc = get_doc(o, url, &m, &h, unreach, err, errlen);
        if (rc)
            break;
        if (h.status != 200) {
            char what[300];
            snprintf(what, sizeof what, "the file list of %s", repo);
            status_error(h.status, what, repo, err, errlen);
            rc = h.status == 404 ? VF_ERR_NOTFOUND : VF_ERR_IO;
            break;
        }
        rc = vf__hub_tree_parse(m.p ? m.p : "", m.n, t, err, errlen);
        if (rc || !h.next[0])
            break;
        /* follow the cursor on our own endpoint, whatever host the Link names */
        const char *q = strchr(h.next, '?');
        if (!q)
            break;
        snprintf(url, sizeof url, "%s%s", base, q);
    }
    vf_free(m.p);
    return rc;
}

static int resolve_commit(const struct vf_pull_opts *o, const char *repo, const char *rev_esc,
                          char *commit, size_t n, bool *unreach, char *err, size_t errlen) {
    char url[2048];
    snprintf(url, sizeof url, "%s/api/models/%s/revision/%s", o->endpoint, repo, rev_esc);
    struct membuf m = {NULL, 0, 0, 4u * 1024 * 1024, false};
    struct hdrs h;
    commit[0] = '\0';
    int rc = get_doc(o, url, &m, &h, unreach, err, errlen);
    if (rc == VF_OK && (h.status == 401 || h.status == 403 || h.status == 404)) {
        char what[400];
        snprintf(what, sizeof what, "%s at revision %s", repo, o->revision);
        status_error(h.status, what, repo, err, errlen);
        rc = h.status == 404 ? VF_ERR_NOTFOUND : VF_ERR_IO;
    } else if (rc == VF_OK && h.status == 200 && m.p) {
        cJSON *j = cJSON_ParseWithLength(m.p, m.n);
        const cJSON *sha = cJSON_GetObjectItemCaseSensitive(j, "sha");
        if (cJSON_IsString(sha) && strlen(sha->valuestring) == 40 &&
            strspn(sha->valuestring, "0123456789abcdef") == 40)
            vf_strlcpy(commit, sha->valuestring, n);
        cJSON_Delete(j);
    }
    vf_free(m.p);
    return rc;
}

/* The path to give voxfit for what was selected. */
static void result_path(const struct vf_hub_want *w, const struct vf_hub_tree *t, const bool *sel,
                        const char *dir, char *out, size_t n) {
    if (w->kind == VF_HUB_GGUF || w->kind == VF_HUB_FILE || w->kind == VF_HUB_GGML_ANY) {
        const char *first = NULL;
        for (size_t i = 0; i < t->n; i++)
            if (sel[i] && (!first || strcmp(t->v[i].path, first) < 0))
                first = t->v[i].path;
        if (first) {
            if (joinp(out, n, dir, first))
                return;
        }
    }
    vf_strlcpy(out, dir, n);
}

int vf_pull_model(const struct vf_pull_opts *o, const char *model, struct vf_pull_result *r,
                  char *err, size_t errlen) {
    memset(r, 0, sizeof *r);
    struct vf_hub_want w;
    int rc = vf__hub_want_for(model, o->engine_hint, o->include, &w, err, errlen);
    if (rc)
        return rc;
    vf__hub_expected(&w, r->expected, sizeof r->expected);
    vf_strlcpy(r->repo, w.repo, sizeof r->repo);
    if (w.kind == VF_HUB_NONE) {
        r->nothing = true;
        fprintf(
            o->out,
            "%s: nothing to download (espeak-ng is a system package: apt-get install espeak-ng)\n",
            model);
        return VF_OK;
    }
    repo_dir(o->cache_dir, w.repo, o->revision, r->dir, sizeof r->dir);
    struct vf_hub_tree t = {0};
    bool *sel = NULL;
    cJSON *man = NULL;
    int lockfd = -1;
    char rev_esc[600], commit[64] = "";
    char *e = curl_easy_escape(NULL, o->revision, 0);
    if (!e)
        return VF_ERR_NOMEM;
    vf_strlcpy(rev_esc, e, sizeof rev_esc);
    curl_free(e);
    fprintf(o->out, "pull %s from %s/%s (%s)\n", model, o->endpoint, w.repo, o->revision);
    fflush(o->out);
    rc = resolve_commit(o, w.repo, rev_esc, commit, sizeof commit, &r->unreachable, err, errlen);
    if (rc)
        goto out;
    if (commit[0])
        vf_strlcpy(rev_esc, commit, sizeof rev_esc); /* one snapshot for the list and every file */
    rc = list_tree(o, w.repo, rev_esc, &t, &r->unreachable, err, errlen);
    if (rc)
        goto out;
    sel = vf_calloc(t.n ? t.n : 1, sizeof *sel);
    if (!sel) {
        rc = VF_ERR_NOMEM;
        goto out;
    }
    if (!vf__hub_select(&w, &t, sel, err, errlen)) {
        rc = VF_ERR_NOTFOUND;
        goto out;
    }
    for (size_t i = 0; i < t.n; i++)
        if (sel[i]) {
            r->bytes_total += t.v[i].size;
            r->n_files++;
        }
    result_path(&w, &t, sel, r->dir, r->path, sizeof r->path);
    if (o->dry_run) {
        char b[32];
        for (size_t i = 0; i < t.n; i++)
            if (sel[i])
                fprintf(o->out, "  %-48s %12s  %s\n", t.v[i].path,
                        vf_fmt_bytes(t.v[i].size, b, sizeof b),
                        t.v[i].sha256[0] ? t.v[i].sha256 : t.v[i].git_oid);
        fprintf(o->out, "would download %d file%s, %s, into %s\n", r->n_files,
                r->n_files == 1 ? "" : "s", vf_fmt_bytes(r->bytes_total, b, sizeof b), r->dir);
        goto out;
    }
    if (mkdirs(r->dir) != VF_OK) {
        vf_errf(err, errlen, "cannot create %s: %s", r->dir, strerror(errno));
        rc = VF_ERR_IO;
        goto out;
    }
    char lockp[PATH_N];
    snprintf(lockp, sizeof lockp, "%s/.lock", r->dir);
    lockfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lockfd < 0 || flock(lockfd, LOCK_EX | LOCK_NB) != 0) {
        vf_errf(err, errlen, "another voxfit pull is downloading into %s", r->dir);
        rc = VF_ERR_IO;
        goto out;
    }
    man = manifest_load(r->dir);
    if (!man) {
        rc = VF_ERR_NOMEM;
        goto out;
    }
    set_str(man, "repo", w.repo);
    set_str(man, "revision", o->revision);
    if (commit[0])
        set_str(man, "commit", commit);
    /* record the model and its files first, so --list shows a partial pull */
    char key[400];
    want_key(&w, key, sizeof key);
    cJSON *models = cJSON_GetObjectItemCaseSensitive(man, "models");
    cJSON_DeleteItemFromObjectCaseSensitive(models, key);
    cJSON *mo = cJSON_AddObjectToObject(models, key);
    if (mo) {
        cJSON_AddStringToObject(mo, "model", model);
        cJSON_AddStringToObject(mo, "path",
                                r->path + strlen(r->dir) + (r->path[strlen(r->dir)] == '/'));
        cJSON *fl = cJSON_AddArrayToObject(mo, "files");
        cJSON *fs = cJSON_AddArrayToObject(mo, "sizes");
        for (size_t i = 0; i < t.n; i++)
            if (sel[i] && fl && fs) {
                cJSON_AddItemToArray(fl, cJSON_CreateString(t.v[i].path));
                cJSON_AddItemToArray(fs, cJSON_CreateNumber((double)t.v[i].size));
            }
    }
    manifest_save(r->dir, man);
    /* disk space for what is still missing */
    uint64_t need = 0;
    for (size_t i = 0; i < t.n; i++) {
        if (!sel[i] || have_file(r->dir, man, &t.v[i]))
            continue;
        char part[PATH_N];
        snprintf(part, sizeof part, "%s/%s.part", r->dir, t.v[i].path);
        bool ex;
        uint64_t ps = file_size(part, &ex);
        need += t.v[i].size - VF_MIN(ps, t.v[i].size);
    }
    struct statvfs vfs;
    if (need && statvfs(r->dir, &vfs) == 0) {
        uint64_t avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
        if (avail < need) {
            char a[32], b[32];
            vf_errf(err, errlen,
                    "not enough disk space in %s: %s needed, %s free (use --cache-dir "
                    "or VOXFIT_CACHE to pick another disk)",
                    r->dir, vf_fmt_bytes(need, a, sizeof a), vf_fmt_bytes(avail, b, sizeof b));
            rc = VF_ERR_TOOBIG;
            goto out;
        }
    }
    char base_url[1200];
    snprintf(base_url, sizeof base_url, "%s/%s/resolve/%s", o->endpoint, w.repo, rev_esc);
    int k = 0;
    for (size_t i = 0; i < t.n; i++) {
        if (!sel[i])
            continue;
        k++;
        char b[32];
        const struct vf_hub_file *f = &t.v[i];
        if (have_file(r->dir, man, f)) {
            fprintf(o->out, "  [%d/%d] %s (%s): up to date\n", k, r->n_files, f->path,
                    vf_fmt_bytes(f->size, b, sizeof b));
            manifest_file(man, f);
            continue;
        }
        fprintf(o->out, "  [%d/%d] %s (%s): downloading\n", k, r->n_files, f->path,
                vf_fmt_bytes(f->size, b, sizeof b));
        fflush(o->out);
        rc = fetch_file(o, base_url, w.repo, f, r->dir, &r->bytes_fetched, err, errlen);
        if (rc)
            goto out;
        r->n_fetched++;
        fprintf(o->out, "  [%d/%d] %s: %s verified\n", k, r->n_files, f->path,
                f->sha256[0]    ? "sha256"
                : f->git_oid[0] ? "git blob id"
                                : "size");
        manifest_file(man, f);
        manifest_save(r->dir, man);
    }
    if (mo)
        cJSON_AddBoolToObject(mo, "complete", true);
    manifest_save(r->dir, man);
    char b1[32], b2[32];
    fprintf(o->out, "done: %s -> %s (%d file%s, %s; %s downloaded)\n", model, r->path, r->n_files,
            r->n_files == 1 ? "" : "s", vf_fmt_bytes(r->bytes_total, b1, sizeof b1),
            vf_fmt_bytes(r->bytes_fetched, b2, sizeof b2));
out:
    if (lockfd >= 0)
        close(lockfd);
    cJSON_Delete(man);
    vf_free(sel);
    vf__hub_tree_free(&t);
    return rc;
}

/* ==== The cache ==== */

struct cached_model {
    char key[400], model[300], dir[PATH_N], path[PATH_N];
    uint64_t bytes, have;
    int n_files, n_complete, n_partial;
    bool complete;
};

/* Inspect one model entry of a manifest against the disk. */
static void inspect(const char *dir, cJSON *man, const cJSON *mo, struct cached_model *c) {
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(mo, "files");
    const cJSON *sizes = cJSON_GetObjectItemCaseSensitive(mo, "sizes");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(mo, "model");
    const cJSON *path = cJSON_GetObjectItemCaseSensitive(mo, "path");
    vf_strlcpy(c->model, cJSON_IsString(model) ? model->valuestring : "?", sizeof c->model);
    vf_strlcpy(c->dir, dir, sizeof c->dir);
    if (!cJSON_IsString(path) || !vf__hub_path_ok(path->valuestring) ||
        !joinp(c->path, sizeof c->path, dir, path->valuestring))
        vf_strlcpy(c->path, dir, sizeof c->path);
    int n = cJSON_GetArraySize(files);
    for (int i = 0; i < n; i++) {
        const cJSON *fp = cJSON_GetArrayItem(files, i);
        const cJSON *fsz = cJSON_GetArrayItem(sizes, i);
        if (!cJSON_IsString(fp) || !vf__hub_path_ok(fp->valuestring))
            continue;
        uint64_t size =
            cJSON_IsNumber(fsz) && fsz->valuedouble >= 0 && fsz->valuedouble < 1.8e19 ? (uint64_t)fsz->valuedouble : 0;
        c->n_files++;
        c->bytes += size;
        char p[PATH_N];
        if (!joinp(p, sizeof p, dir, fp->valuestring))
            continue;
        bool ex;
        uint64_t s = file_size(p, &ex);
        const cJSON *rec = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(man, "files"), fp->valuestring);
        if (ex && s == size && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(rec, "verified"))) {
            c->n_complete++;
            c->have += size;
            continue;
        }
        char part[PATH_N + 8];
        snprintf(part, sizeof part, "%s.part", p);
        s = file_size(part, &ex);
        if (ex) {
            c->n_partial++;
            c->have += VF_MIN(s, size);
        }
    }
    c->complete = c->n_files > 0 && c->n_complete == c->n_files;
}

/* Calls fn for every model of every manifest under <cache>/hub. */
static int each_cached(const char *cache, void (*fn)(const struct cached_model *, void *),
                       void *ud) {
    char hub[PATH_N];
    snprintf(hub, sizeof hub, "%s/hub", cache);
    DIR *d = opendir(hub);
    if (!d)
        return VF_OK;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char rdir[PATH_N];
        if (!joinp(rdir, sizeof rdir, hub, e->d_name))
            continue;
        DIR *d2 = opendir(rdir);
        if (!d2)
            continue;
        struct dirent *e2;
        while ((e2 = readdir(d2))) {
            if (e2->d_name[0] == '.')
                continue;
            char dir[PATH_N], mp[PATH_N + 32];
            if (!joinp(dir, sizeof dir, rdir, e2->d_name))
                continue;
            snprintf(mp, sizeof mp, "%s/%s", dir, MANIFEST);
            if (access(mp, R_OK) != 0)
                continue;
            cJSON *man = manifest_load(dir);
            if (!man) {
                closedir(d2);
                closedir(d);
                return VF_ERR_NOMEM;
            }
            const cJSON *mo;
            cJSON_ArrayForEach(mo, cJSON_GetObjectItemCaseSensitive(man, "models")) {
                struct cached_model *c = vf_calloc(1, sizeof *c);
                if (!c)
                    break;
                vf_strlcpy(c->key, mo->string ? mo->string : "", sizeof c->key);
                inspect(dir, man, mo, c);
                fn(c, ud);
                vf_free(c);
            }
            cJSON_Delete(man);
        }
        closedir(d2);
    }
    closedir(d);
    return VF_OK;
}

struct list_ctx {
    FILE *f;
    cJSON *arr;
    int n;
    uint64_t total;
};

static void list_one(const struct cached_model *c, void *ud) {
    struct list_ctx *l = ud;
    char b1[32], b2[32];
    l->n++;
    l->total += c->have;
    const char *state = c->complete                     ? "complete"
                        : c->n_partial || c->n_complete ? "partial"
                                                        : "missing";
    if (l->arr) {
        cJSON *o = cJSON_CreateObject();
        if (!o)
            return;
        cJSON_AddStringToObject(o, "model", c->model);
        cJSON_AddStringToObject(o, "key", c->key);
        cJSON_AddStringToObject(o, "path", c->path);
        cJSON_AddStringToObject(o, "status", state);
        cJSON_AddNumberToObject(o, "files", c->n_files);
        cJSON_AddNumberToObject(o, "files_complete", c->n_complete);
        cJSON_AddNumberToObject(o, "bytes", (double)c->bytes);
        cJSON_AddNumberToObject(o, "bytes_present", (double)c->have);
        cJSON_AddItemToArray(l->arr, o);
        return;
    }
    if (l->n == 1)
        fprintf(l->f, "%-40s %5s %11s  %-28s %s\n", "MODEL", "FILES", "SIZE", "STATUS", "PATH");
    char st[64];
    if (c->complete)
        snprintf(st, sizeof st, "complete");
    else
        snprintf(st, sizeof st, "%s (%s kept)", state, vf_fmt_bytes(c->have, b2, sizeof b2));
    fprintf(l->f, "%-40s %5d %11s  %-28s %s\n", c->model, c->n_files,
            vf_fmt_bytes(c->bytes, b1, sizeof b1), st, c->path);
}

int vf_pull_list(FILE *f, const char *cache_dir, bool json) {
    struct list_ctx l = {f, NULL, 0, 0};
    if (json && !(l.arr = cJSON_CreateArray()))
        return VF_ERR_NOMEM;
    int rc = each_cached(cache_dir, list_one, &l);
    if (json) {
        cJSON *root = cJSON_CreateObject();
        if (root) {
            cJSON_AddStringToObject(root, "cache_dir", cache_dir);
            cJSON_AddItemToObject(root, "models", l.arr);
            cJSON_AddNumberToObject(root, "bytes_present", (double)l.total);
            char *s = cJSON_Print(root);
            if (s)
                fprintf(f, "%s\n", s);
            cJSON_free(s);
            cJSON_Delete(root);
        } else {
            cJSON_Delete(l.arr);
            rc = VF_ERR_NOMEM;
        }
        return rc;
    }
    char b[32];
    if (!l.n)
        fprintf(f, "nothing cached in %s (voxfit pull MODEL downloads one)\n", cache_dir);
    else
        fprintf(f, "\n%d model%s, %s in %s\n", l.n, l.n == 1 ? "" : "s",
                vf_fmt_bytes(l.total, b, sizeof b), cache_dir);
    return rc;
}

struct find_ctx {
    const char *key;
    char *path;
    size_t n;
    bool found;
};

static void find_one(const struct cached_model *c, void *ud) {
    struct find_ctx *fc = ud;
    if (!fc->found && c->complete && !strcmp(c->key, fc->key)) {
        vf_strlcpy(fc->path, c->path, fc->n);
        fc->found = true;
    }
}

int vf_pull_cached(const char *cache_dir, const char *model, const char *engine_hint, char *path,
                   size_t n) {
    struct vf_hub_want w;
    char err[512];
    if (vf__hub_want_for(model, engine_hint, NULL, &w, err, sizeof err) != VF_OK ||
        w.kind == VF_HUB_NONE)
        return VF_ERR_NOTFOUND;
    char key[400];
    want_key(&w, key, sizeof key);
    struct find_ctx fc = {key, path, n, false};
    int rc = each_cached(cache_dir, find_one, &fc);
    if (rc)
        return rc;
    return fc.found ? VF_OK : VF_ERR_NOTFOUND;
}
