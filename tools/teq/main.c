/* teq: the command-line tool. A thin layer over include/teq.h: this file dispatches to the commands
 * (one file each, cmd_*.c; cli.h says how to add one) and answers `teq --help`, `teq help [COMMAND]`,
 * `teq COMMAND --help` and `teq help --man` (the man page, troff, made from the same help text at
 * build time). */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define TEQ_CLI_ENTRY(name) &teq_cli_cmd_##name,
static const teq_cli_command *const commands[] = {TEQ_CLI_COMMANDS(TEQ_CLI_ENTRY)};
#undef TEQ_CLI_ENTRY
#define N_COMMANDS ((int)(sizeof commands / sizeof commands[0]))

static const char about[] = "adaptive exponential quantization of neural networks";

/* After the command list in `teq --help`; DESCRIPTION and ENVIRONMENT of the man page. */
static const char notes[] =
    "MODEL is an ONNX file or a .teq file written by teq quantize. Tensors are NumPy .npy files\n"
    "(little-endian, C order). DATA is a folder made by teq dataset, a .npy whose first axis is the\n"
    "batch, or a folder of .npy files. Every output file is written under a temporary name and renamed\n"
    "when complete. A failure prints one line on stderr, naming the file and the problem, and exits\n"
    "non-zero.\n";
static const char environment[] =
    "environment:\n"
    "  TEQ_ISA=scalar|avx2|avx512  caps the set of kernels chosen for this CPU\n"
    "  TEQ_KERNEL=ref|dequant      quantized layers on the reference counting kernel, or on the\n"
    "                              quantizer's float path (dequantized weights, FP32 operators)\n"
    "  TEQ_FP32_CONV=blas          FP32 convolutions through im2col and OpenBLAS instead of teq's kernel\n"
    "  TEQ_FP32_CONV=rows          teq's kernel, every Conv on its [M/6][K][6] weight layout (no\n"
    "                              channels-in-vectors layout on AVX-512)\n"
    "  TEQ_WINOGRAD=off            FP32 3x3 convolutions of stride 1 on the direct kernel instead of\n"
    "                              Winograd's F(2x2,3x3) (AVX2, AVX-512; fewer products, other bits)\n";

static const teq_cli_command *find_command(const char *name) {
    for (int i = 0; i < N_COMMANDS; i++)
        if (!strcmp(commands[i]->name, name)) return commands[i];
    return NULL;
}

static void print_help(FILE *f) {
    fprintf(f, "teq " TEQ_VERSION_STRING ": %s\n\n", about);
    fprintf(f, "usage: teq COMMAND [ARGS...]\n"
               "       teq COMMAND --help   (or teq help COMMAND): the command's usage and every option\n\n");
    fprintf(f, "commands:\n");
    for (int i = 0; i < N_COMMANDS; i++) fprintf(f, "  %-9s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(f, "\n%s\n%s", notes, environment);
}

/* ---- the man page: the help texts in troff (their layout is described in cli.h) ---- */

/* n bytes of s, escaped for troff: a backslash is \e, a minus sign \- (so that options copy as
 * typed), and a line that would start with a control character gets \& before it. */
static void troff_put(FILE *f, const char *s, size_t n, int line_start) {
    if (line_start && n > 0 && (s[0] == '.' || s[0] == '\'')) fputs("\\&", f);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\') fputs("\\e", f);
        else if (s[i] == '-') fputs("\\-", f);
        else fputc(s[i], f);
    }
}

static size_t indent_of(const char *line, size_t len) {
    size_t k = 0;
    while (k < len && line[k] == ' ') k++;
    return k;
}

/* One help text in troff. top: a heading starts a section of the page (.SH) rather than a heading
 * inside a command's part. */
static void troff_text(FILE *f, const char *text, int top) {
    enum { NONE, USAGE, PARA, ENTRY } state = NONE;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        size_t ind = indent_of(p, len);
        const char *next = nl ? nl + 1 : p + len;
        if (len == 0) {
            if (state == USAGE) fputs(".fi\n", f);
            state = NONE;
        } else if (!strncmp(p, "usage: ", 7)) {
            fputs(".PP\n.nf\n", f);
            troff_put(f, p + 7, len - 7, 1);
            fputc('\n', f);
            state = USAGE;
        } else if (state == USAGE) {
            troff_put(f, p + ind, len - ind, 1);
            fputc('\n', f);
        } else if (ind == 0 && p[len - 1] == ':') {
            if (top) {
                fputs(".SH ", f);
                for (size_t i = 0; i + 1 < len; i++) fputc(p[i] >= 'a' && p[i] <= 'z' ? p[i] - 'a' + 'A' : p[i], f);
                fputc('\n', f);
            } else {
                fputs(".PP\n\\fB", f);
                troff_put(f, p, len, 0);
                fputs("\\fR\n", f);
            }
            state = NONE;
        } else if (ind == 2) {
            /* an entry: the tag runs to the first gap of two spaces */
            const char *tag = p + 2, *end = p + len, *gap = tag;
            while (gap + 1 < end && !(gap[0] == ' ' && gap[1] == ' ')) gap++;
            if (gap + 1 >= end) gap = end;
            fputs(".TP\n\\fB", f);
            troff_put(f, tag, (size_t)(gap - tag), 0);
            fputs("\\fR\n", f);
            size_t d = indent_of(gap, (size_t)(end - gap));
            if (gap + d < end) {
                troff_put(f, gap + d, (size_t)(end - gap - d), 1);
                fputc('\n', f);
            }
            state = ENTRY;
        } else {
            if (state == NONE) fputs(".PP\n", f);
            troff_put(f, p + ind, len - ind, 1);
            fputc('\n', f);
            if (state != ENTRY) state = PARA;
        }
        p = next;
    }
    if (state == USAGE) fputs(".fi\n", f);
}

static void print_man(FILE *f) {
    fprintf(f, ".\\\" Generated by `teq help --man` from the text of teq --help; do not edit.\n");
    fprintf(f, ".TH TEQ 1 \"\" \"teq " TEQ_VERSION_STRING "\" \"User Commands\"\n");
    fprintf(f, ".SH NAME\nteq \\- %s\n", about);
    fprintf(f, ".SH SYNOPSIS\n.nf\n");
    for (int i = 0; i < N_COMMANDS; i++) {
        /* the usage lines of every command, without their "usage: " */
        const char *p = commands[i]->help;
        while (*p && *p != '\n') {
            const char *nl = strchr(p, '\n');
            size_t ind = indent_of(p, (size_t)(nl - p));
            const char *s = !strncmp(p, "usage: ", 7) ? p + 7 : p + ind;
            troff_put(f, s, (size_t)(nl - s), 1);
            fputc('\n', f);
            p = nl + 1;
        }
    }
    fprintf(f, ".fi\n.SH DESCRIPTION\n");
    troff_text(f, notes, 1);
    fprintf(f, ".PP\n\\fBteq COMMAND \\-\\-help\\fR or \\fBteq help COMMAND\\fR prints the part of this page "
               "about that command.\n");
    fprintf(f, ".SH COMMANDS\n");
    for (int i = 0; i < N_COMMANDS; i++) {
        fprintf(f, ".SS \"teq %s\"\n", commands[i]->name);
        troff_put(f, commands[i]->summary, strlen(commands[i]->summary), 1);
        fputs(".\n", f);
        troff_text(f, commands[i]->help, 0);
    }
    troff_text(f, environment, 1);
}

/* `teq help ...`: the list, one command's help, or the man page. */
static int help_command(int argc, char **argv) {
    if (argc == 0) {
        print_help(stdout);
        return 0;
    }
    if (argc > 1) return teq_cli_fail("help: takes one command name (teq help COMMAND)"), 2;
    if (!strcmp(argv[0], "--man")) {
        print_man(stdout);
        return 0;
    }
    const teq_cli_command *c = find_command(argv[0]);
    if (!c) return teq_cli_fail("help: unknown command '%s' (teq --help lists the commands)", argv[0]), 2;
    fputs(c->help, stdout);
    return 0;
}

/* Interrupted (SIGINT, SIGTERM): say so on one line, then die of the signal as usual. Every output is
 * written under a temporary name and renamed when complete, so the files named on the command line
 * are either untouched or whole. */
static void on_interrupt(int sig) {
    static const char msg[] = "teq: interrupted by a signal; files not yet written were left as they were\n";
    if (write(2, msg, sizeof msg - 1) < 0) {
        /* nothing more can be done from a signal handler */
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

int main(int argc, char **argv) {
    signal(SIGINT, on_interrupt);
    signal(SIGTERM, on_interrupt);
    /* A file-size limit (ulimit -f) must fail the write with EFBIG, reported like a full disk, rather
     * than kill the process. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        print_help(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (!strcmp(name, "-h") || !strcmp(name, "--help")) {
        print_help(stdout);
        return 0;
    }
    if (!strcmp(name, "help")) return help_command(argc - 2, argv + 2);
    if (!strcmp(name, "--version")) name = "version";
    const teq_cli_command *c = find_command(name);
    if (!c) return teq_cli_fail("unknown command '%s' (teq --help lists the commands)", name), 2;
    /* --help or -h anywhere after the command asks for its help, whatever else is given */
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(c->help, stdout);
            return 0;
        }
    return c->run(argc - 2, argv + 2);
}
