#include "cli.h"
int vf_cmd_plan(int argc, char **argv) { (void)argc; (void)argv; return 2; }
