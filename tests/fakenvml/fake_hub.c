/* fake_hub.c - a stand-in for the Hugging Face Hub in `voxfit pull` tests,
 * on loopback only. It serves a folder of generated files laid out as
 * ROOT/<owner>/<name>/<path> through the hub's own API:
 *
 *   GET /api/models/<owner>/<name>/revision/<rev>   {"sha": COMMIT}
 *   GET /api/models/<owner>/<name>/tree/<rev>?recursive=true[&cursor=K]
 *       the file list (oid = git blob id; lfs {oid = sha256, size} for large
 *       files), --page entries per page with a Link: rel="next" header
 *   GET /<owner>/<name>/resolve/<rev>/<path>
 *       large files: 302 to http://localhost:PORT/cdn/... (another host name,
 *       as the real CDN is) with X-Linked-Etag / X-Linked-Size;
 *       small files: the bytes, ETag = the git blob id
 *   GET /cdn/<owner>/<name>/<path>                  the bytes, with Range
 *
 * and injects faults into the first N data responses (resolve or cdn):
 *   --drop-after BYTES --drop-count N   close the connection after BYTES of the body
 *   --corrupt-count N                   flip one byte in the middle of the body
 *   --error CODE --error-count N        answer CODE instead
 *   --no-range                          ignore Range (always the whole file, 200)
 *   --slow-ms N                         pause N ms after each 64 KiB
 *   --token T                           the API and resolve need "Authorization: Bearer T"
 *   --tree-error CODE                   the tree API answers CODE
 *   --bad-tree                          the tree also lists "../escape.bin"
 *   --wrong-sha                         the tree gives a wrong sha256 for every large file
 * It writes the port it listens on to --port-file and one line per request
 * (method, path, range, auth) to --log. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *root, *token, *commit = "0123456789abcdef0123456789abcdef01234567";
static long drop_after = -1, drop_count, corrupt_count, error_code, error_count, slow_ms,
            page = 1000;
static long tree_error;
static bool no_range, bad_tree, wrong_sha;
static FILE *logf_;
static int port;

/* ==== Responses ==== */

static void send_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        c += w;
        n -= (size_t)w;
    }
}

static void respond(int fd, int code, const char *status, const char *extra, const char *ctype,
                    const char *body, size_t len, bool head) {
    char h[2048];
    int n = snprintf(
        h, sizeof h,
        "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nContent-Type: %s\r\n%sConnection: close\r\n\r\n",
        code, status, len, ctype, extra ? extra : "");
    send_all(fd, h, (size_t)n);
    if (!head && body)
        send_all(fd, body, len);
}

static void json_error(int fd, int code, const char *status, const char *msg) {
    char b[256];
    int n = snprintf(b, sizeof b, "{\"error\":\"%s\"}", msg);
    respond(fd, code, status, NULL, "application/json", b, (size_t)n, false);
}

/* ==== Files ==== */

static bool lfs_file(const char *path, uint64_t size) {
    const char *dot = strrchr(path, '.');
    return size > 4096 ||
           (dot && (!strcmp(dot, ".gguf") || !strcmp(dot, ".bin") || !strcmp(dot, ".safetensors") ||
                    !strcmp(dot, ".pth") || !strcmp(dot, ".pt")));
}

static char *read_file(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)sz + 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return b;
}

static void hex(const unsigned char *d, unsigned n, char *out) {
    for (unsigned i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void digests(const char *data, size_t n, char sha256[65], char sha1[41]) {
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned len;
    EVP_Digest(data, n, d, &len, EVP_sha256(), NULL);
    hex(d, len, sha256);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    char hdr[64];
    int hl = snprintf(hdr, sizeof hdr, "blob %zu", n);
    EVP_DigestInit_ex(c, EVP_sha1(), NULL);
    EVP_DigestUpdate(c, hdr, (size_t)hl + 1);
    EVP_DigestUpdate(c, data, n);
    EVP_DigestFinal_ex(c, d, &len);
    EVP_MD_CTX_free(c);
    hex(d, len, sha1);
}

struct entry {
    char path[512];
    bool dir;
};

static int cmp_entry(const void *a, const void *b) {
    return strcmp(((const struct entry *)a)->path, ((const struct entry *)b)->path);
}

static void walk(const char *base, const char *rel, struct entry **v, size_t *n, size_t *cap) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s%s%s", base, rel[0] ? "/" : "", rel);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char r[512], full[1600];
        snprintf(r, sizeof r, "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        snprintf(full, sizeof full, "%s/%s", base, r);
        struct stat st;
        if (stat(full, &st) != 0)
            continue;
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 32;
            *v = realloc(*v, *cap * sizeof **v);
        }
        snprintf((*v)[*n].path, sizeof(*v)[*n].path, "%s", r);
        (*v)[*n].dir = S_ISDIR(st.st_mode);
        (*n)++;
        if (S_ISDIR(st.st_mode))
            walk(base, r, v, n, cap);
    }
    closedir(d);
}

/* ==== Requests ==== */

static void url_decode(char *s) {
    char *o = s;
    for (; *s; s++) {
        if (*s == '%' && s[1] && s[2]) {
            char h[3] = {s[1], s[2], 0};
            *o++ = (char)strtol(h, NULL, 16);
            s += 2;
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

/* "<owner>/<name>/rest" -> repo folder and rest */
static bool split_repo(const char *p, char *repo, size_t rn, const char **rest) {
    const char *s1 = strchr(p, '/');
    const char *s2 = s1 ? strchr(s1 + 1, '/') : NULL;
    if (!s2)
        return false;
    snprintf(repo, rn, "%.*s", (int)(s2 - p), p);
    *rest = s2 + 1;
    return !strstr(repo, "..");
}

static void tree(int fd, const char *repo, long cursor) {
    char base[1024];
    snprintf(base, sizeof base, "%s/%s", root, repo);
    struct stat st;
    if (stat(base, &st) != 0) {
        json_error(fd, 404, "Not Found", "Repository not found");
        return;
    }
    if (tree_error) {
        json_error(fd, (int)tree_error, "Error", "injected");
        return;
    }
    struct entry *v = NULL;
    size_t n = 0, cap = 0;
    walk(base, "", &v, &n, &cap);
    if (n)
        qsort(v, n, sizeof *v, cmp_entry);
    size_t bcap = 1 << 20, bl = 0;
    char *body = malloc(bcap);
    bl += (size_t)snprintf(body + bl, bcap - bl, "[");
    size_t end = (size_t)cursor + (size_t)page;
    bool first = true;
    for (size_t i = (size_t)cursor; i < n && i < end; i++) {
        char full[1600];
        snprintf(full, sizeof full, "%s/%s", base, v[i].path);
        if (bcap - bl < 4096) {
            bcap *= 2;
            body = realloc(body, bcap);
        }
        if (v[i].dir) {
            bl += (size_t)snprintf(
                body + bl, bcap - bl,
                "%s{\"type\":\"directory\",\"oid\":\"%040d\",\"size\":0,\"path\":\"%s\"}",
                first ? "" : ",", 0, v[i].path);
        } else {
            size_t len;
            char *data = read_file(full, &len);
            char sha256[65], sha1[41];
            digests(data ? data : "", data ? len : 0, sha256, sha1);
            free(data);
            if (wrong_sha)
                sha256[0] = sha256[0] == '0' ? '1' : '0';
            if (lfs_file(v[i].path, len))
                bl += (size_t)snprintf(
                    body + bl, bcap - bl,
                    "%s{\"type\":\"file\",\"oid\":\"%s\",\"size\":%zu,\"lfs\":{\"oid\":\"%s\","
                    "\"size\":%zu,\"pointerSize\":134},\"path\":\"%s\"}",
                    first ? "" : ",", sha1, len, sha256, len, v[i].path);
            else
                bl += (size_t)snprintf(
                    body + bl, bcap - bl,
                    "%s{\"type\":\"file\",\"oid\":\"%s\",\"size\":%zu,\"path\":\"%s\"}",
                    first ? "" : ",", sha1, len, v[i].path);
        }
        first = false;
    }
    if (bad_tree && cursor == 0)
        bl += (size_t)snprintf(
            body + bl, bcap - bl,
            "%s{\"type\":\"file\",\"oid\":\"%040d\",\"size\":3,\"path\":\"../escape.bin\"}",
            first ? "" : ",", 0);
    bl += (size_t)snprintf(body + bl, bcap - bl, "]");
    char extra[1200] = "";
    if (end < n)
        snprintf(
            extra, sizeof extra,
            "Link: <https://huggingface.co/api/models/%s/tree/main?recursive=true&cursor=%zu>; "
            "rel=\"next\"\r\n",
            repo, end);
    respond(fd, 200, "OK", extra, "application/json", body, bl, false);
    free(body);
    free(v);
}

/* The bytes of a file, with Range and the injected faults. */
static void data(int fd, const char *file, const char *range, bool head, const char *extra0) {
    size_t len;
    char *d = read_file(file, &len);
    if (!d) {
        respond(fd, 404, "Not Found", "X-Error-Code: EntryNotFound\r\n", "text/plain", "not found",
                9, head);
        return;
    }
    if (error_count > 0 && !head) {
        error_count--;
        json_error(fd, (int)error_code, "Injected", "injected error");
        free(d);
        return;
    }
    size_t from = 0;
    int code = 200;
    char extra[1024];
    snprintf(extra, sizeof extra, "%sAccept-Ranges: bytes\r\n", extra0 ? extra0 : "");
    if (range && !no_range) {
        unsigned long long s;
        if (sscanf(range, "bytes=%llu-", &s) == 1) {
            if (s >= len) {
                char e2[1200];
                snprintf(e2, sizeof e2, "%sContent-Range: bytes */%zu\r\n", extra, len);
                respond(fd, 416, "Range Not Satisfiable", e2, "text/plain", "", 0, head);
                free(d);
                return;
            }
            from = (size_t)s;
            code = 206;
            size_t l = strlen(extra);
            snprintf(extra + l, sizeof extra - l, "Content-Range: bytes %zu-%zu/%zu\r\n", from,
                     len - 1, len);
        }
    }
    size_t n = len - from;
    char h[2048];
    int hl = snprintf(h, sizeof h,
                      "HTTP/1.1 %d %s\r\nContent-Length: %zu\r\nContent-Type: "
                      "application/octet-stream\r\n%sConnection: close\r\n\r\n",
                      code, code == 200 ? "OK" : "Partial Content", n, extra);
    send_all(fd, h, (size_t)hl);
    if (head) {
        free(d);
        return;
    }
    size_t limit = n;
    if (drop_count > 0 && drop_after >= 0) {
        drop_count--;
        limit = (size_t)drop_after < n ? (size_t)drop_after : n;
    }
    if (corrupt_count > 0 && n) {
        corrupt_count--;
        d[from + n / 2] ^= 0x5a;
    }
    size_t sent = 0;
    while (sent < limit) {
        size_t k = limit - sent < 65536 ? limit - sent : 65536;
        send_all(fd, d + from + sent, k);
        sent += k;
        if (slow_ms) {
            struct timespec ts = {slow_ms / 1000, (slow_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    free(d);
}

static const char *header(const char *req, const char *name, char *out, size_t n) {
    size_t nl = strlen(name);
    for (const char *p = strstr(req, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        if (!strncasecmp(p + 2, name, nl) && p[2 + nl] == ':') {
            const char *v = p + 3 + nl;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            snprintf(out, n, "%.*s", (int)(e ? e - v : (long)strlen(v)), v);
            return out;
        }
    }
    return NULL;
}

static void handle(int fd) {
    char req[16384];
    size_t n = 0;
    while (n < sizeof req - 1) {
        ssize_t r = recv(fd, req + n, sizeof req - 1 - n, 0);
        if (r <= 0)
            return;
        n += (size_t)r;
        req[n] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    char method[16], target[4096];
    if (sscanf(req, "%15s %4095s", method, target) != 2)
        return;
    bool head = !strcmp(method, "HEAD");
    char rangeb[128], authb[512];
    const char *range = header(req, "Range", rangeb, sizeof rangeb);
    const char *auth = header(req, "Authorization", authb, sizeof authb);
    char want[600];
    snprintf(want, sizeof want, "Bearer %s", token ? token : "");
    bool authed = !token || (auth && !strcmp(auth, want));
    if (logf_) {
        fprintf(logf_, "%s %s range=%s auth=%s\n", method, target, range ? range : "-",
                auth ? "yes" : "no");
        fflush(logf_);
    }
    char *q = strchr(target, '?');
    long cursor = 0;
    if (q) {
        *q = '\0';
        const char *c = strstr(q + 1, "cursor=");
        if (c)
            cursor = atol(c + 7);
    }
    url_decode(target);
    if (strstr(target, "/../") || strstr(target, "/..")) {
        json_error(fd, 400, "Bad Request", "bad path");
        return;
    }
    char repo[512];
    const char *rest;
    if (!strncmp(target, "/api/models/", 12)) {
        if (!authed) {
            json_error(fd, 401, "Unauthorized", "Invalid credentials");
            return;
        }
        if (!split_repo(target + 12, repo, sizeof repo, &rest)) {
            json_error(fd, 404, "Not Found", "bad api path");
            return;
        }
        char base[1024];
        snprintf(base, sizeof base, "%s/%s", root, repo);
        struct stat st;
        if (!strncmp(rest, "revision/", 9)) {
            if (stat(base, &st) != 0) {
                json_error(fd, 404, "Not Found", "Repository not found");
                return;
            }
            char b[256];
            int bl = snprintf(b, sizeof b, "{\"id\":\"%s\",\"sha\":\"%s\"}", repo, commit);
            respond(fd, 200, "OK", NULL, "application/json", b, (size_t)bl, head);
        } else if (!strncmp(rest, "tree/", 5)) {
            tree(fd, repo, cursor);
        } else {
            json_error(fd, 404, "Not Found", "unknown api");
        }
        return;
    }
    if (!strncmp(target, "/cdn/", 5)) {
        if (!split_repo(target + 5, repo, sizeof repo, &rest)) {
            json_error(fd, 404, "Not Found", "bad cdn path");
            return;
        }
        char file[2048];
        snprintf(file, sizeof file, "%s/%s/%s", root, repo, rest);
        data(fd, file, range, head, NULL);
        return;
    }
    /* /<owner>/<name>/resolve/<rev>/<path> */
    if (split_repo(target + 1, repo, sizeof repo, &rest) && !strncmp(rest, "resolve/", 8)) {
        if (!authed) {
            json_error(fd, 401, "Unauthorized", "Invalid credentials");
            return;
        }
        const char *path = strchr(rest + 8, '/');
        if (!path) {
            json_error(fd, 404, "Not Found", "no path");
            return;
        }
        path++;
        char file[2048];
        snprintf(file, sizeof file, "%s/%s/%s", root, repo, path);
        size_t len;
        char *d = read_file(file, &len);
        if (!d) {
            respond(fd, 404, "Not Found", "X-Error-Code: EntryNotFound\r\n", "text/plain",
                    "not found", 9, head);
            return;
        }
        char sha256[65], sha1[41];
        digests(d, len, sha256, sha1);
        free(d);
        char extra[1024];
        if (lfs_file(path, len)) {
            snprintf(extra, sizeof extra,
                     "Location: http://localhost:%d/cdn/%s/%s\r\nX-Linked-Etag: "
                     "\"%s\"\r\nX-Linked-Size: %zu\r\n"
                     "X-Repo-Commit: %s\r\nETag: \"%s\"\r\n",
                     port, repo, path, sha256, len, commit, sha1);
            respond(fd, 302, "Found", extra, "text/plain", "redirect", 8, head);
        } else {
            snprintf(extra, sizeof extra, "X-Repo-Commit: %s\r\nETag: \"%s\"\r\n", commit, sha1);
            data(fd, file, range, head, extra);
        }
        return;
    }
    json_error(fd, 404, "Not Found", "unknown path");
}

int main(int argc, char **argv) {
    const char *port_file = NULL, *log_path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
#define OPT(name) (!strcmp(a, name) && (i++, 1))
        if (OPT("--root"))
            root = v;
        else if (OPT("--port-file"))
            port_file = v;
        else if (OPT("--log"))
            log_path = v;
        else if (OPT("--page"))
            page = atol(v);
        else if (OPT("--token"))
            token = v;
        else if (OPT("--commit"))
            commit = v;
        else if (OPT("--drop-after"))
            drop_after = atol(v);
        else if (OPT("--drop-count"))
            drop_count = atol(v);
        else if (OPT("--corrupt-count"))
            corrupt_count = atol(v);
        else if (OPT("--error"))
            error_code = atol(v);
        else if (OPT("--error-count"))
            error_count = atol(v);
        else if (OPT("--slow-ms"))
            slow_ms = atol(v);
        else if (OPT("--tree-error"))
            tree_error = atol(v);
        else if (!strcmp(a, "--no-range"))
            no_range = true;
        else if (!strcmp(a, "--bad-tree"))
            bad_tree = true;
        else if (!strcmp(a, "--wrong-sha"))
            wrong_sha = true;
        else {
            fprintf(stderr, "fake hub: unknown option %s\n", a);
            return 2;
        }
#undef OPT
    }
    if (!root || !port_file) {
        fprintf(stderr, "usage: vf_fake_hub --root DIR --port-file FILE [faults]\n");
        return 2;
    }
    if (page < 1)
        page = 1;
    signal(SIGPIPE, SIG_IGN);
    if (log_path)
        logf_ = fopen(log_path, "a");
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (bind(ls, (struct sockaddr *)&a, sizeof a) != 0 || listen(ls, 16) != 0 ||
        getsockname(ls, (struct sockaddr *)&a, &al) != 0) {
        perror("fake hub: listen");
        return 1;
    }
    port = ntohs(a.sin_port);
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", port_file);
    FILE *pf = fopen(tmp, "w");
    if (!pf)
        return 1;
    fprintf(pf, "%d\n", port);
    fclose(pf);
    rename(tmp, port_file);
    for (;;) {
        int fd = accept(ls, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            return 1;
        }
        handle(fd);
        close(fd);
    }
}
