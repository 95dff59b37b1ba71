/* args.c - see args.h. */
#include "args.h"
#include "str.h"

#include <string.h>

static const struct vf_opt *find_opt(const struct vf_opt *opts, size_t n, const char *name,
                                     size_t name_len) {
    for (size_t i = 0; i < n; i++) {
        const char *names[2] = {opts[i].name, opts[i].alias};
        for (int k = 0; k < 2; k++) {
            if (names[k] && strlen(names[k]) == name_len && strncmp(names[k], name, name_len) == 0)
                return &opts[i];
        }
    }
    return NULL;
}

static int set_value(const struct vf_opt *o, const char *v, FILE *err) {
    int rc = VF_OK;
    switch (o->type) {
    case VF_OPT_FLAG: {
        bool b;
        rc = vf_parse_bool(v, &b);
        if (rc == VF_OK)
            *(bool *)o->dest = b;
        break;
    }
    case VF_OPT_STR:
        *(const char **)o->dest = v;
        break;
    case VF_OPT_INT:
        rc = vf_parse_int(v, (int)o->min, (int)o->max, (int *)o->dest);
        if (rc)
            fprintf(err, "voxfit: %s takes a whole number from %lld to %lld, not '%s'\n", o->name,
                    (long long)o->min, (long long)o->max, v);
        return rc;
    case VF_OPT_I64:
        rc = vf_parse_i64(v, o->min, o->max, (int64_t *)o->dest);
        if (rc)
            fprintf(err, "voxfit: %s takes a whole number from %lld to %lld, not '%s'\n", o->name,
                    (long long)o->min, (long long)o->max, v);
        return rc;
    case VF_OPT_SIZE:
        rc = vf_parse_size(v, (uint64_t *)o->dest);
        if (rc)
            fprintf(err, "voxfit: %s takes a size such as 16GiB, 12GB or 8000MiB, not '%s'\n",
                    o->name, v);
        return rc;
    case VF_OPT_DOUBLE:
        rc = vf_parse_double(v, o->dmin, o->dmax, (double *)o->dest);
        if (rc)
            fprintf(err, "voxfit: %s takes a number from %g to %g, not '%s'\n", o->name, o->dmin,
                    o->dmax, v);
        return rc;
    case VF_OPT_CHOICE:
        for (const char *const *c = o->choices; *c; c++) {
            if (strcmp(*c, v) == 0) {
                *(const char **)o->dest = *c;
                return VF_OK;
            }
        }
        fprintf(err, "voxfit: %s takes one of", o->name);
        for (const char *const *c = o->choices; *c; c++)
            fprintf(err, " %s", *c);
        fprintf(err, ", not '%s'\n", v);
        return VF_ERR_ARG;
    }
    if (rc)
        fprintf(err, "voxfit: bad value '%s' for %s\n", v, o->name);
    return rc;
}

enum vf_args_result vf_args_parse(const char *usage, const char *desc,
                                  const struct vf_opt *opts, size_t n_opts,
                                  int argc, char **argv,
                                  const char **positional, int max_pos, int *n_pos,
                                  FILE *out, FILE *err) {
    int np = 0;
    bool only_pos = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (only_pos || a[0] != '-' || a[1] == '\0') {
            if (np >= max_pos) {
                fprintf(err, "voxfit: unexpected argument '%s' (see --help)\n", a);
                return VF_ARGS_ERROR;
            }
            positional[np++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_pos = true;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            vf_args_usage(out, usage, desc, opts, n_opts);
            return VF_ARGS_HELP;
        }
        const char *eq = strchr(a, '=');
        size_t name_len = eq ? (size_t)(eq - a) : strlen(a);
        const struct vf_opt *o = find_opt(opts, n_opts, a, name_len);
        if (!o) {
            fprintf(err, "voxfit: unknown option '%.*s' (see --help)\n", (int)name_len, a);
            return VF_ARGS_ERROR;
        }
        const char *v;
        if (eq) {
            v = eq + 1;
        } else if (o->type == VF_OPT_FLAG) {
            v = "1";
        } else {
            if (i + 1 >= argc) {
                fprintf(err, "voxfit: %s needs a value (%s)\n", o->name, o->metavar ? o->metavar : "VALUE");
                return VF_ARGS_ERROR;
            }
            v = argv[++i];
        }
        if (set_value(o, v, err) != VF_OK)
            return VF_ARGS_ERROR;
        if (o->seen)
            *o->seen = true;
    }
    if (n_pos)
        *n_pos = np;
    return VF_ARGS_OK;
}

void vf_args_usage(FILE *f, const char *usage, const char *desc,
                   const struct vf_opt *opts, size_t n_opts) {
    fprintf(f, "usage: %s\n", usage);
    if (desc)
        fprintf(f, "\n%s\n", desc);
    if (n_opts)
        fprintf(f, "\noptions:\n");
    for (size_t i = 0; i < n_opts; i++) {
        const struct vf_opt *o = &opts[i];
        char left[64];
        if (o->alias)
            snprintf(left, sizeof left, "%s, %s%s%s", o->alias, o->name, o->metavar ? " " : "",
                     o->metavar ? o->metavar : "");
        else
            snprintf(left, sizeof left, "%s%s%s", o->name, o->metavar ? " " : "",
                     o->metavar ? o->metavar : "");
        fprintf(f, "  %-28s %s", left, o->help);
        if (o->type == VF_OPT_CHOICE && o->choices) {
            fprintf(f, " (");
            for (const char *const *c = o->choices; *c; c++)
                fprintf(f, "%s%s", c == o->choices ? "" : "|", *c);
            fprintf(f, ")");
        }
        if (o->def)
            fprintf(f, " [default: %s]", o->def);
        fprintf(f, "\n");
    }
    fprintf(f, "  %-28s %s\n", "-h, --help", "show this help and exit");
}
