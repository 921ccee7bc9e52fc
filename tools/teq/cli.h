/* The teq CLI's own interface: the command table and the helpers the commands share.
 *
 * A command is one file, cmd_NAME.c, that defines `const teq_cli_command teq_cli_cmd_NAME`, plus one
 * X(NAME) entry in TEQ_CLI_COMMANDS below; main.c builds the dispatch table, `teq --help`, `teq help
 * NAME`, `teq NAME --help` and the man page (`teq help --man`) from these records.
 *
 * help is the text `teq NAME --help` prints, and the man page is made from it, so it follows a small
 * layout (teq_cli_print_man reads it):
 *   - the first line starts with "usage: teq NAME"; lines indented by spaces that follow it continue
 *     the usage (more forms of the command); a blank line ends it;
 *   - a line that starts at column 0 and ends with ':' heads a section ("options:");
 *   - a line indented by exactly two spaces is an entry: its tag (an option with its value, a suite
 *     name) runs to the first gap of two or more spaces, the description follows; lines indented
 *     deeper continue the description;
 *   - any other line is running text; blank lines separate paragraphs.
 * Every option the command's parser accepts is an entry of its help (tests/cli_help.sh checks). */
#ifndef TEQ_CLI_H
#define TEQ_CLI_H

#include "teq.h"

#include <stdint.h>
#include <stdio.h>

typedef struct teq_cli_command {
    const char *name;
    const char *summary; /* one line for `teq --help` */
    const char *help;    /* usage and every option (layout above) */
    /* argv[0] is the first argument after the command's name; returns the exit status. Never sees
     * --help or -h: main.c answers those. */
    int (*run)(int argc, char **argv);
} teq_cli_command;

/* Every command, in the order `teq --help` lists them. */
#define TEQ_CLI_COMMANDS(X) X(inspect) X(run) X(quantize) X(export) X(analyze) X(eval) X(dataset) X(bench) X(energy) X(version)

#define TEQ_CLI_DECLARE(name) extern const teq_cli_command teq_cli_cmd_##name;
TEQ_CLI_COMMANDS(TEQ_CLI_DECLARE)
#undef TEQ_CLI_DECLARE

/* A macro's value as a string literal: TEQ_CLI_STR(TEQ_FMNIST_MEAN) is "0.2860". */
#define TEQ_CLI_STR_(x) #x
#define TEQ_CLI_STR(x) TEQ_CLI_STR_(x)

/* "teq: " + the message + newline on stderr; returns 1 (the exit status of a failed command). */
int teq_cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The library's one-line message (or its status string when empty). */
int teq_cli_fail_err(const teq_error *e);

/* --name VALUE options: parsing stores argv's VALUE into *value. */
typedef struct teq_cli_opt {
    const char *name;
    const char **value;
} teq_cli_opt;

/* Parses argv into opts (a {NULL, NULL}-terminated list) and exactly n_pos positional arguments;
 * multi_name (optional) may repeat, up to max_multi values collected in multi. An unknown option, a
 * missing value, a missing or extra positional argument: one line on stderr, returns 1. */
int teq_cli_parse_opts(const char *cmd, int argc, char **argv, const teq_cli_opt *opts, const char **positional,
                       int n_pos, const char *multi_name, const char **multi, int *n_multi, int max_multi);
/* An integer option in lo..hi (dflt when v is NULL); -1 and a message when malformed. */
long long teq_cli_int_opt(const char *cmd, const char *name, const char *v, long long dflt, long long lo, long long hi);
/* A finite number option (dflt when v is NULL); NAN and a message when malformed. */
double teq_cli_num_opt(const char *cmd, const char *name, const char *v, double dflt);

/* Progress reports go to stderr when it is a terminal. */
int teq_cli_is_tty(void);
double teq_cli_now_s(void);
/* [1, 3, 48, N] as declared (a symbolic dim by its name, "?" when unnamed). */
void teq_cli_print_shape(FILE *f, const teq_io_info *io);

#endif /* TEQ_CLI_H */
