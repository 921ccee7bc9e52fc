/* teq dataset: data set folders (src/data/): rendered text lines, synthetic inputs, IDX files. */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>

/* teq dataset idx: MNIST-style IDX files into a data set folder. */
static int cmd_dataset_idx(int argc, char **argv) {
    const char *images = NULL, *labels = NULL, *mean = NULL, *std = NULL, *n = NULL, *offset = NULL, *out = NULL;
    const teq_cli_opt opts[] = {{"--images", &images}, {"--labels", &labels}, {"--mean", &mean}, {"--std", &std},
                                {"-n", &n}, {"--offset", &offset}, {"-o", &out}, {NULL, NULL}};
    if (teq_cli_parse_opts("dataset idx", argc, argv, opts, NULL, 0, NULL, NULL, NULL, 0)) return 1;
    if (!images) return teq_cli_fail("dataset idx: --images FILE is required");
    if (!out) return teq_cli_fail("dataset idx: -o DIR is required");
    teq_idx_opts o = {0};
    o.images_path = images;
    o.labels_path = labels;
    o.out_dir = out;
    o.mean = teq_cli_num_opt("dataset idx", "--mean", mean, TEQ_FMNIST_MEAN);
    o.std = teq_cli_num_opt("dataset idx", "--std", std, TEQ_FMNIST_STD);
    if (isnan(o.mean) || isnan(o.std)) return 1;
    if (!(o.std > 0)) return teq_cli_fail("dataset idx: --std must be positive");
    long long nn = teq_cli_int_opt("dataset idx", "-n", n, 0, 1, 1LL << 32);
    long long off = teq_cli_int_opt("dataset idx", "--offset", offset, 0, 0, 1LL << 32);
    if (nn < 0 || off < 0) return 1;
    o.n = nn, o.offset = off;
    teq_error e;
    if (teq_dataset_idx(&o, &e)) return teq_cli_fail_err(&e);
    printf("wrote %s (inputs.npy, dataset.json, preview.png%s) from %s\n", out, labels ? ", labels.txt" : "", images);
    return 0;
}

static int cmd_dataset(int argc, char **argv) {
    if (argc < 1) return teq_cli_fail("dataset: ocr-lines, synth or idx (see teq dataset --help)");
    const char *kind = argv[0];
    if (!strcmp(kind, "idx")) return cmd_dataset_idx(argc - 1, argv + 1);
    if (strcmp(kind, "ocr-lines") && strcmp(kind, "synth"))
        return teq_cli_fail("dataset: unknown kind '%s' (ocr-lines, synth or idx)", kind);
    const char *text = NULL, *n = NULL, *seed = NULL, *out = NULL, *width = NULL, *height = NULL, *keys = NULL,
               *skind = NULL;
    const char *fonts[16];
    int n_fonts = 0;
    const teq_cli_opt opts[] = {{"--text", &text}, {"-n", &n}, {"--seed", &seed}, {"-o", &out}, {"--width", &width},
                                {"--height", &height}, {"--keys", &keys}, {"--kind", &skind}, {NULL, NULL}};
    if (teq_cli_parse_opts("dataset", argc - 1, argv + 1, opts, NULL, 0, "--font", fonts, &n_fonts, 16)) return 1;
    long long nn = teq_cli_int_opt("dataset", "-n", n, -1, 1, 10000000);
    long long sd = teq_cli_int_opt("dataset", "--seed", seed, 1, 0, 1LL << 62);
    long long w = teq_cli_int_opt("dataset", "--width", width, 0, 8, 8192);
    long long h = teq_cli_int_opt("dataset", "--height", height, 0, 8, 8192);
    if (nn < 0 || sd < 0 || w < 0 || h < 0) return n ? 1 : teq_cli_fail("dataset: -n N is required");
    if (!out) return teq_cli_fail("dataset: -o DIR is required");
    teq_error e;
    if (!strcmp(kind, "ocr-lines")) {
        if (!text || n_fonts == 0) return teq_cli_fail("dataset ocr-lines: --text FILE and at least one --font are required");
        teq_ocr_lines_opts o = {text, fonts, n_fonts, (int)nn, (uint64_t)sd, (int)w, (int)h, keys, out};
        if (teq_dataset_ocr_lines(&o, &e)) return teq_cli_fail_err(&e);
    } else { /* synth */
        if (!skind) return teq_cli_fail("dataset synth: --kind is required (ocr-cls, ocr-det, blazeface, mlsd)");
        teq_synth_opts o = {skind, text, fonts, n_fonts, (int)nn, (uint64_t)sd, (int)h, (int)w, out};
        if (teq_dataset_synth(&o, &e)) return teq_cli_fail_err(&e);
    }
    printf("wrote %lld samples to %s (inputs.npy, dataset.json, preview.png%s)\n", nn, out,
           !strcmp(kind, "ocr-lines") || (skind && !strcmp(skind, "ocr-cls")) ? ", labels.txt" : "");
    return 0;
}

const teq_cli_command teq_cli_cmd_dataset = {
    .name = "dataset",
    .summary = "make a data set folder: rendered text lines, synthetic inputs, IDX files",
    .help =
        "usage: teq dataset ocr-lines --text FILE --font FONT.ttf [--font ...] -n N --seed S -o DIR [options]\n"
        "       teq dataset synth --kind ocr-cls|ocr-det|blazeface|mlsd -n N --seed S -o DIR [options]\n"
        "       teq dataset idx --images FILE[.gz] [--labels FILE[.gz]] -o DIR [options]\n"
        "\n"
        "Writes a data set folder: inputs.npy (float32, the batch first, normalised as the model expects),\n"
        "labels.txt where there are labels, dataset.json and preview.png.\n"
        "\n"
        "kinds:\n"
        "  ocr-lines  text lines of consecutive words rendered with FreeType (PP-OCR recognition input)\n"
        "  synth      synthetic inputs: ocr-cls (text lines, half of them turned by 180 degrees), ocr-det\n"
        "             (pages of text), blazeface (face-like figures), mlsd (line drawings)\n"
        "  idx        MNIST-style IDX images (and labels), gzip-compressed or plain, as [N,1,rows,cols]\n"
        "             float32, (pixel/255 - mean) / std\n"
        "\n"
        "options of ocr-lines and synth:\n"
        "  --text FILE          UTF-8 text to draw (ocr-lines: required)\n"
        "  --font FONT.ttf      a font; repeat for more (ocr-lines: at least one)\n"
        "  --kind KIND          synth: ocr-cls, ocr-det, blazeface or mlsd (required)\n"
        "  -n N                 samples (required)\n"
        "  --seed S             the seed (default 1)\n"
        "  -o DIR               the output folder (required)\n"
        "  --width W            image width (ocr-lines: default 320; synth: the kind's default)\n"
        "  --height H           image height (ocr-lines: default 48; synth: the kind's default)\n"
        "  --keys FILE          ocr-lines: keep only the characters in this PP-OCR key list\n"
        "\n"
        "options of idx:\n"
        "  --images FILE[.gz]   the IDX image file (required)\n"
        "  --labels FILE[.gz]   its label file: labels.txt then holds each image's class index\n"
        "  --mean M             the mean of the scaling (default " TEQ_CLI_STR(TEQ_FMNIST_MEAN) ", Fashion-MNIST's)\n"
        "  --std S              the standard deviation (default " TEQ_CLI_STR(TEQ_FMNIST_STD) ")\n"
        "  -n N                 images (default: all from --offset on)\n"
        "  --offset O           the first image (default 0)\n"
        "  -o DIR               the output folder (required)\n",
    .run = cmd_dataset,
};
