/* teq energy: the per-layer table, the totals and the assumptions (the model is in src/energy/). */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int cmd_energy(int argc, char **argv) {
    const char *table = NULL, *json = NULL, *input = NULL, *shape = NULL, *limit = NULL, *seed = NULL, *zs = NULL,
               *threads = NULL, *final = NULL;
    const teq_cli_opt opts[] = {{"--final", &final}, {"--table", &table}, {"--json", &json}, {"--input", &input},
                                {"--shape", &shape}, {"--limit", &limit}, {"--seed", &seed}, {"--zero-skip", &zs},
                                {"--threads", &threads}, {NULL, NULL}};
    const char *pos[1] = {NULL};
    if (teq_cli_parse_opts("energy", argc, argv, opts, pos, 1, NULL, NULL, NULL, 0)) return 1;
    teq_energy_opts o = {0};
    teq_energy_table tb;
    teq_error e;
    if (table) {
        if (teq_energy_table_read(table, &tb, &e)) return teq_cli_fail_err(&e);
        o.table = &tb;
    }
    if (input && shape) return teq_cli_fail("energy: give --input or --shape, not both");
    if (zs && strcmp(zs, "on") && strcmp(zs, "off")) return teq_cli_fail("energy: --zero-skip is on or off");
    o.no_zero_skip = zs && !strcmp(zs, "off");
    if (final && strcmp(final, "fp32") && strcmp(final, "int16")) return teq_cli_fail("energy: --final is fp32 or int16");
    o.final_int_bits = final && !strcmp(final, "int16") ? 16 : 0;
    o.input_path = input;
    if (shape) {
        const char *p = shape;
        while (*p) {
            char *end;
            errno = 0;
            long long d = strtoll(p, &end, 10);
            if (end == p || errno || d < 1 || d > (1LL << 31) || (*end && *end != ',') || o.shape_ndim == TEQ_MAX_DIMS)
                return teq_cli_fail("energy: --shape takes positive dims separated by commas (e.g. 1,3,48,320)");
            o.shape[o.shape_ndim++] = d;
            p = *end ? end + 1 : end;
        }
        if (o.shape_ndim == 0) return teq_cli_fail("energy: --shape takes positive dims separated by commas (e.g. 1,3,48,320)");
    }
    long long l = teq_cli_int_opt("energy", "--limit", limit, 0, 1, 1LL << 40);
    long long sd = teq_cli_int_opt("energy", "--seed", seed, 1, 0, 1LL << 62);
    long long t = teq_cli_int_opt("energy", "--threads", threads, 1, 1, 256);
    if (l < 0 || sd < 0 || t < 0) return 1;
    o.limit = l, o.seed = (uint64_t)sd, o.threads = (int)t;
    teq_model *m = NULL;
    if (teq_model_load(pos[0], &m, &e)) return teq_cli_fail_err(&e);
    teq_energy_report *r = NULL;
    if (teq_energy_analyze(m, &o, &r, &e)) {
        teq_model_free(m);
        return teq_cli_fail_err(&e);
    }
    printf("%-30s %-6s %2s %2s %10s %6s %10s %10s %9s %10s %9s %9s %9s %9s %10s %10s %7s\n", "layer", "op", "nW", "nA",
           "MACs", "nz%", "exp adds", "cnt upd", "final", "INT8 MACs", "DRAM B", "DRAM B8", "SRAM B", "SRAM B8",
           "pJ teq", "pJ int8", "saving");
    for (int i = 0; i < r->n_layers; i++) {
        const teq_energy_layer *y = &r->layers[i];
        char nm[31], op[7];
        snprintf(nm, sizeof nm, "%.30s", y->name); /* cut to the column; the JSON has them whole */
        snprintf(op, sizeof op, "%.6s", y->op);
        printf("%-30s %-6s %2d %2d %10.4g %6.1f %10.4g %10.4g %9.4g %10.4g %9.4g %9.4g %9.4g %9.4g %10.4g %10.4g %6.1f%%\n",
               nm, op, y->bits_w, y->bits_a, y->macs, y->taps > 0 ? 100.0 * y->pairs_nonzero / y->taps : 0.0,
               y->teq_exp_adds, y->teq_counter_updates, y->teq_final_muls + y->teq_final_adds, y->int8_macs,
               y->teq_dram_bytes, y->int8_dram_bytes, y->teq_sram_bytes, y->int8_sram_bytes, y->pj_teq, y->pj_int8,
               y->pj_int8 > 0 ? 100.0 * (1.0 - y->pj_teq / y->pj_int8) : 0.0);
    }
    printf("(nz%%: element pairs with no zero operand, of the taps; final: multiplies + adds of the final stage; "
           "B8: INT8)\n\n");
    printf("%-10s %14s %14s %8s\n", "per inference", "teq pJ", "INT8 pJ", "saving");
    printf("%-13s %14.6g %14.6g %7.1f%%\n", "compute", r->pj_teq_compute, r->pj_int8_compute, 100 * r->saving_compute);
    printf("%-13s %14.6g %14.6g %7.1f%%\n", "SRAM", r->pj_teq_sram, r->pj_int8_sram,
           r->pj_int8_sram > 0 ? 100 * (1 - r->pj_teq_sram / r->pj_int8_sram) : 0.0);
    printf("%-13s %14.6g %14.6g %7.1f%%\n", "DRAM", r->pj_teq_dram, r->pj_int8_dram,
           r->pj_int8_dram > 0 ? 100 * (1 - r->pj_teq_dram / r->pj_int8_dram) : 0.0);
    printf("%-13s %14.6g %14.6g %7.1f%%\n", "memory", r->pj_teq_memory, r->pj_int8_memory, 100 * r->saving_memory);
    printf("%-13s %14.6g %14.6g %7.1f%%\n", "total", r->total_pj_teq, r->total_pj_int8, 100 * r->saving_vs_int8);
    printf("energy saving against INT8: %.1f%% (%.4g uJ teq, %.4g uJ INT8 per inference, %d layers)\n",
           100 * r->saving_vs_int8, r->total_pj_teq / 1e6, r->total_pj_int8 / 1e6, r->n_layers);
    printf("\nassumptions:\n");
    for (int i = 0; i < r->n_assumptions; i++) printf("- %s\n", r->assumptions[i]);
    printf("table (pJ; a --table FILE has this form):\n");
    printf("  int_add_8 %g\n  int_add_32 %g\n  int_mul_8 %g\n  int_mul_32 %g\n  fp_add_32 %g\n  fp_mul_32 %g\n"
           "  sram_64b %g\n  dram_64b %g\n",
           r->table.int_add_8, r->table.int_add_32, r->table.int_mul_8, r->table.int_mul_32, r->table.fp_add_32,
           r->table.fp_mul_32, r->table.sram_64b, r->table.dram_64b);
    int rc = 0;
    if (json && teq_energy_write_json(json, r, &e)) rc = teq_cli_fail_err(&e);
    teq_energy_report_free(r);
    teq_model_free(m);
    return rc;
}

const teq_cli_command teq_cli_cmd_energy = {
    .name = "energy",
    .summary = "energy of the exponential datapath against INT8, per layer",
    .help =
        "usage: teq energy MODEL.teq [options]\n"
        "\n"
        "Runs the quantized model once per sample and prints, per quantized layer and in total per inference,\n"
        "the operations, the memory traffic and the energy of the exponential datapath against an INT8\n"
        "multiply-accumulate datapath, and the assumptions.\n"
        "\n"
        "options:\n"
        "  --input FILE.npy     inputs with the batch first, one inference each (default: a synthetic input,\n"
        "                       uniform in [-1, 1], of the declared shape)\n"
        "  --shape D,D,...      the synthetic input's shape (not with --input)\n"
        "  --limit N            at most N samples of --input (default 8)\n"
        "  --seed S             the synthetic input's seed (default 1)\n"
        "  --table FILE         energies per operation, one `name value_pj` per line (default: Horowitz,\n"
        "                       ISSCC 2014, 45 nm; the output ends with the table in this form)\n"
        "  --zero-skip on|off   whether the exponential datapath skips zero operands (default on)\n"
        "  --final fp32|int16   the per-output stage of both datapaths in float32 (default) or int16\n"
        "  --json FILE          the report as JSON\n"
        "  --threads N          threads (1..256, default 1)\n",
    .run = cmd_energy,
};
