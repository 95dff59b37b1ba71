/* args.h - table-driven command-line parsing. A command lists its options
 * once, with type, destination, help text and default; the same table
 * parses argv and prints the --help listing, so the help can never drift
 * from what is accepted. */
#ifndef VF_ARGS_H
#define VF_ARGS_H

#include "vf.h"

#include <stdio.h>

enum vf_opt_type {
    VF_OPT_FLAG,   /* bool *: present -> true */
    VF_OPT_STR,    /* const char **: borrowed from argv */
    VF_OPT_INT,    /* int *, range [min, max] */
    VF_OPT_I64,    /* int64_t *, range [min, max] */
    VF_OPT_SIZE,   /* uint64_t *: "16GiB", "12GB", "8000MiB" */
    VF_OPT_DOUBLE, /* double *, range [dmin, dmax] */
    VF_OPT_CHOICE, /* const char **: one of choices[] */
};

struct vf_opt {
    const char *name;             /* long form, e.g. "--llm" */
    const char *alias;            /* short form ("-o") or NULL */
    enum vf_opt_type type;
    void *dest;
    const char *metavar;          /* shown in help: "MODEL" */
    const char *help;             /* one line */
    const char *def;              /* default shown in help, NULL for none */
    int64_t min, max;             /* VF_OPT_INT / VF_OPT_I64 */
    double dmin, dmax;            /* VF_OPT_DOUBLE */
    const char *const *choices;   /* VF_OPT_CHOICE, NULL-terminated */
    bool *seen;                   /* optional: set true when given */
};

enum vf_args_result {
    VF_ARGS_OK = 0,
    VF_ARGS_HELP = 1,   /* --help was given and the usage printed to out */
    VF_ARGS_ERROR = 2,  /* a message was printed to err; exit with 2 */
};

/* Parse argv[1..argc-1] against opts. Arguments that are not options are
 * stored in positional[] (at most max_pos; more is an error); *n_pos gets
 * their count. "--" ends option parsing. Both "--opt value" and
 * "--opt=value" are accepted. */
enum vf_args_result vf_args_parse(const char *usage, const char *desc,
                                  const struct vf_opt *opts, size_t n_opts,
                                  int argc, char **argv,
                                  const char **positional, int max_pos, int *n_pos,
                                  FILE *out, FILE *err);

/* Print "usage: ...", the description and one line per option with its
 * default. */
void vf_args_usage(FILE *f, const char *usage, const char *desc,
                   const struct vf_opt *opts, size_t n_opts);

#endif
