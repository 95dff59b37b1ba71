/* cli.h - the subcommands. Each takes argc/argv with argv[0] the command
 * name and returns the process exit code: 0 ok, 1 the thing checked fails,
 * 2 usage error. */
#ifndef VF_CLI_H
#define VF_CLI_H

int vf_cmd_plan(int argc, char **argv);
int vf_cmd_measure(int argc, char **argv);
int vf_cmd_dev(int argc, char **argv);
int vf_cmd_gpu(int argc, char **argv);
int vf_cmd_up(int argc, char **argv);
int vf_cmd_pull(int argc, char **argv);
int vf_cmd_serve(int argc, char **argv);
int vf_cmd_transcribe(int argc, char **argv);

#endif
