/* The planner's elementwise fusion (src/ops/fuse.c) against the unfused graph, bit for bit: the fixture
 * tests/fixtures/hswish_chain.onnx (HardSwish as PP-OCR exports it, a chain stopped by an intermediate that
 * is also a graph output, a constant on the left of Div) is loaded once fused and once with TEQ_FUSE=0, and
 * run on random values plus NaN, +-inf, -0, denormals and the Clip bounds. Also the executor's per-node
 * profile (teq_model_profile) on the Fashion-MNIST network.
 *
 * Usage: test_fuse [SEED] (run from the repository root, as scripts/test.sh does). */
#include "check.h"
#include "api/model_internal.h"
#include "ops/qlayer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int count_op(const teq_graph *g, const char *op) {
    int n = 0;
    for (int i = 0; i < g->n_nodes; i++) n += !strcmp(g->nodes[i].op_type, op);
    return n;
}

/* The fast mode's fused nodes (qlayer.c fast_passes): a packed FP32 Conv applies the Relu, Clip and
 * TeqElementwise nodes after it to its output blocks, an Add the Relu that alone reads it, and those nodes
 * hand their input on. The model run with them and without (each node on its own) must give the same bytes.
 * A depthwise FP32 Conv applies its chain per output plane. Returns the number of nodes fused into the node
 * before them (*adds of them Relus into Adds), or -1 when the model is absent. */
static int n_zpad; /* zero-padded Concats handed on (ops.h teq_add_marks) in the last chains_vs_nodes model */
static int chains_vs_nodes(const char *path, unsigned seed, int *adds) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fclose(f);
    teq_error err;
    teq_model *m = NULL;
    CHECK(teq_model_load(path, &m, &err) == TEQ_OK, "load %s: %s", path, err.msg);
    if (!m) return 0;
    int fused = 0;
    *adds = 0, n_zpad = 0;
    for (int i = 0; i < m->g->n_nodes; i++) {
        const teq_node *n = &m->g->nodes[i];
        *adds += !strcmp(n->op_type, "Add") && teq_add_relu(n);
        n_zpad += !strcmp(n->op_type, "Concat") && teq_concat_zpad(n);
        fused += (!strcmp(n->op_type, "Relu") || !strcmp(n->op_type, "Clip") || !strcmp(n->op_type, "TeqElementwise") ||
                  !strcmp(n->op_type, "BatchNormalization")) &&
                 n->pass_fast;
    }
    teq_io_info info;
    teq_model_input_info(m, 0, &info);
    int64_t dims[8];
    for (int d = 0; d < info.ndim; d++) dims[d] = info.dims[d] > 0 ? info.dims[d] : d == 0 ? 1 : 160; /* rec: width */
    teq_tensor *x = NULL;
    CHECK(teq_tensor_create(TEQ_DTYPE_FLOAT, info.ndim, dims, &x, &err) == TEQ_OK, "input tensor");
    srand(seed);
    for (int64_t i = 0; x && i < teq_tensor_numel(x); i++) ((float *)x->data)[i] = (float)(rand() / (double)RAND_MAX * 2 - 1);
    teq_tensor *on[8] = {0}, *off[8] = {0};
    const teq_tensor *in[1] = {x};
    teq_status s = x ? teq_model_run(m, 1, NULL, in, on, &err) : TEQ_ERR_NOMEM;
    teq_ops_fast_passes(m->g, false);
    if (!s) s = teq_model_run(m, 1, NULL, in, off, &err);
    CHECK(s == TEQ_OK, "%s: run: %s", path, s ? err.msg : "");
    for (int o = 0; !s && o < teq_model_num_outputs(m); o++) {
        const int64_t n = teq_tensor_numel(on[o]);
        CHECK(n == teq_tensor_numel(off[o]) && !memcmp(on[o]->data, off[o]->data, (size_t)n * sizeof(float)),
              "%s: output %d with %d fused nodes differs from running them", path, o, fused);
    }
    for (int o = 0; o < 8; o++) teq_tensor_free(on[o]), teq_tensor_free(off[o]);
    teq_tensor_free(x);
    teq_model_free(m);
    return fused;
}

/* Pad -> Conv folded at load (fconv.c fold_pads): M-LSD's three Pads go, and the outputs are the bytes of
 * the graph as in the file (loaded for the quantizer, TEQ_LOAD_KEEP_FLOATS, which folds nothing). */
static void pads_folded(const char *path, unsigned seed) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        skip_missing("Pad folding", path);
        return;
    }
    fclose(f);
    teq_error err;
    teq_model *a = NULL, *b = NULL;
    CHECK(teq_model_load(path, &a, &err) == TEQ_OK, "load %s: %s", path, err.msg);
    CHECK(teq_model_load_as(path, TEQ_LOAD_KEEP_FLOATS, &b, &err) == TEQ_OK, "load %s unfolded: %s", path, err.msg);
    if (!a || !b) {
        teq_model_free(a), teq_model_free(b);
        return;
    }
    const int pa = count_op(a->g, "Pad"), pb = count_op(b->g, "Pad");
    CHECK(pa == 0 && pb == 3, "%s: %d Pad nodes to run folded, %d unfolded; expected 0 and 3", path, pa, pb);
    teq_io_info info;
    teq_model_input_info(a, 0, &info);
    teq_tensor *x = NULL;
    CHECK(teq_tensor_create(TEQ_DTYPE_FLOAT, info.ndim, info.dims, &x, &err) == TEQ_OK, "input tensor");
    srand(seed);
    for (int64_t i = 0; x && i < teq_tensor_numel(x); i++) ((float *)x->data)[i] = (float)(rand() / (double)RAND_MAX);
    teq_tensor *oa[8] = {0}, *ob[8] = {0};
    const teq_tensor *in[1] = {x};
    teq_status s = x ? teq_model_run(a, 1, NULL, in, oa, &err) : TEQ_ERR_NOMEM;
    if (!s) s = teq_model_run(b, 1, NULL, in, ob, &err);
    CHECK(s == TEQ_OK, "%s: run: %s", path, s ? err.msg : "");
    for (int o = 0; !s && o < teq_model_num_outputs(a); o++) {
        const int64_t n = teq_tensor_numel(oa[o]);
        CHECK(n == teq_tensor_numel(ob[o]) && !memcmp(oa[o]->data, ob[o]->data, (size_t)n * sizeof(float)),
              "%s: output %d with the Pads folded differs from the graph as in the file", path, o);
    }
    for (int o = 0; o < 8; o++) teq_tensor_free(oa[o]), teq_tensor_free(ob[o]);
    teq_tensor_free(x);
    teq_model_free(a), teq_model_free(b);
    printf("%s: %d Pad nodes folded into Convs, outputs identical\n", path, pb - pa);
}

static double wall_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The per-node profile (teq_model_profile, `teq run --profile`): off by default and refusing queries then;
 * on, it counts the runs, times every node of the graph as it runs (the sum within the runs' wall time),
 * reports the first output's shape, and leaves the outputs as they are without it. */
static void profile_check(const char *path, unsigned seed) {
    teq_error err;
    teq_model *m = NULL;
    CHECK(teq_model_load(path, &m, &err) == TEQ_OK, "load %s: %s", path, err.msg);
    if (!m) return;
    teq_node_profile np;
    CHECK(teq_model_profile_nodes(m) == 0, "profile: %d nodes before it was turned on", teq_model_profile_nodes(m));
    CHECK(teq_model_profile_node(m, 0, &np, &err) == TEQ_ERR_ARG && strstr(err.msg, "off"), "profile: a query while off: '%s'",
          err.msg);
    const int64_t dims[4] = {1, 1, 28, 28};
    teq_tensor *x = NULL;
    CHECK(teq_tensor_create(TEQ_DTYPE_FLOAT, 4, dims, &x, &err) == TEQ_OK, "input tensor");
    if (!x) {
        teq_model_free(m);
        return;
    }
    srand(seed);
    for (int i = 0; i < 784; i++) ((float *)x->data)[i] = (float)(rand() / (double)RAND_MAX);
    const teq_tensor *in[1] = {x};
    teq_tensor *ref[1] = {0}, *got[1] = {0};
    teq_status s = teq_model_run(m, 1, NULL, in, ref, &err);
    CHECK(s == TEQ_OK && teq_model_profile(m, 1, &err) == TEQ_OK, "profile on: %s", err.msg);
    const double t0 = wall_s();
    for (int r = 0; r < 3 && !s; r++) {
        teq_tensor_free(got[0]);
        got[0] = NULL;
        s = teq_model_run(m, 1, NULL, in, got, &err);
    }
    const double wall = wall_s() - t0;
    CHECK(s == TEQ_OK, "profiled run: %s", err.msg);
    CHECK(!s && teq_tensor_numel(got[0]) == teq_tensor_numel(ref[0]) &&
              !memcmp(got[0]->data, ref[0]->data, sizeof(float) * (size_t)teq_tensor_numel(ref[0])),
          "profiled run's output differs from the unprofiled one");
    const int n = teq_model_profile_nodes(m);
    CHECK(n == m->g->n_nodes && n > 0, "profile: %d nodes, the graph runs %d", n, m->g->n_nodes);
    double sum = 0, conv = 0;
    int ok = 1, shapes = 1;
    for (int i = 0; i < n; i++) {
        if (teq_model_profile_node(m, i, &np, &err)) {
            ok = 0;
            break;
        }
        ok &= np.runs == 3 && np.seconds >= 0 && np.name && np.op_type && !strcmp(np.name, m->g->nodes[i].name);
        sum += np.seconds;
        if (!strcmp(np.op_type, "Conv")) conv += np.seconds;
        shapes &= np.ndim >= 1 && np.dims[0] >= 1;
    }
    CHECK(ok, "profile: a node with the wrong run count, time or name");
    CHECK(shapes, "profile: a node without its output shape");
    CHECK(sum > 0 && sum <= wall, "profile: nodes sum to %.6f s over runs that took %.6f s", sum, wall);
    CHECK(conv > 0, "profile: the convolutions took no time");
    CHECK(teq_model_profile_node(m, n, &np, &err) == TEQ_ERR_ARG, "profile: node %d of %d accepted", n, n);
    CHECK(teq_model_profile(m, 0, &err) == TEQ_OK && teq_model_profile_nodes(m) == 0, "profile off");
    printf("profile: %d nodes, %.3f of %.3f ms per run in nodes (Conv %.3f)\n", n, sum / 3e-3, wall / 3e-3, conv / 3e-3);
    teq_tensor_free(ref[0]);
    teq_tensor_free(got[0]);
    teq_tensor_free(x);
    teq_model_free(m);
}

/* The links that run in one pass (fuse.c run_one_pass: PP-OCR's HardSwish, with and without PPLCNetV3's
 * affine after it, and that affine alone) against the same steps run one by one, bit for bit, on random
 * values, the special ones and values next to the Clip bounds, with random constants; and forms that differ
 * in one step's kind or order are not taken for them. */
static void one_pass_links(void) {
    const teq_estep hs[6] = {{TEQ_EOP_ADD, TEQ_EOPND_CONST, 0, 3, 3, 0}, {TEQ_EOP_CLIP, TEQ_EOPND_NONE, 0, 0, 0, 6},
                             {TEQ_EOP_MUL, TEQ_EOPND_ROOT, 1, 0, 0, 0},  {TEQ_EOP_DIV, TEQ_EOPND_CONST, 0, 6, 6, 0},
                             {TEQ_EOP_MUL, TEQ_EOPND_CONST, 1, 0, 0, 0}, {TEQ_EOP_ADD, TEQ_EOPND_CONST, 0, 0, 0, 0}};
    const float special[] = {NAN, INFINITY, -INFINITY, -0.0f, 0.0f, 1e-40f, -1e-40f, 3.0f, -3.0f, 6.0f, -6.0f,
                             3.0000002f, -2.9999998f, 2.9999998f, 1.0f, 3.4e38f, -3.4e38f, 1e-30f};
    enum { N = 3000 };
    float *x = malloc(sizeof(float) * N), *ya = malloc(sizeof(float) * N), *yb = malloc(sizeof(float) * N);
    int cases = 0, bad = 0;
    for (int round = 0; round < 30; round++) {
        teq_estep st[6];
        memcpy(st, hs, sizeof st);
        st[1].lo = (float)(rand() % 3 - 1), st[1].hi = 6.0f + (float)(rand() % 3);
        st[4].c = st[4].lo = (float)(rand() / (double)RAND_MAX * 4 - 1);
        st[5].c = st[5].lo = (float)(rand() / (double)RAND_MAX * 2 - 1);
        for (int i = 0; i < N; i++)
            x[i] = i < (int)(sizeof special / sizeof *special) ? special[i]
                   : i % 7 == 0 ? nextafterf(i % 2 ? -3.0f : 3.0f, (i / 7) % 2 ? 0.0f : 10.0f)
                                : (float)((rand() / (double)RAND_MAX - 0.5) * 20.0);
        const struct { const teq_estep *st; int ns; } forms[3] = {{st, 4}, {st, 6}, {st + 4, 2}};
        for (int f = 0; f < 3; f++) {
            CHECK(teq_echain_link_form(forms[f].st, forms[f].ns) == forms[f].ns, "form %d not recognised", f);
            const int64_t n = 1 + rand() % N; /* a block and a partial one */
            teq_echain_link_run(forms[f].st, forms[f].ns, x, ya, n, false);
            teq_echain_link_run(forms[f].st, forms[f].ns, x, yb, n, true);
            bad += memcmp(ya, yb, sizeof(float) * (size_t)n) != 0;
            cases++;
        }
    }
    CHECK(bad == 0, "%d of %d one-pass links differ from their steps", bad, cases);
    /* one step's order or kind changed: step by step (another computation; a one-pass form would be wrong) */
    teq_estep alt[6];
    memcpy(alt, hs, sizeof alt), alt[3].order = 1; /* 6 / acc */
    CHECK(teq_echain_link_form(alt, 4) == 0 && teq_echain_link_form(alt, 6) == 0, "6 / acc taken for acc / 6");
    memcpy(alt, hs, sizeof alt), alt[2].opnd = TEQ_EOPND_CONST;
    CHECK(teq_echain_link_form(alt, 4) == 0, "a constant multiplier taken for the root");
    memcpy(alt, hs, sizeof alt), alt[5].op = TEQ_EOP_SUB;
    CHECK(teq_echain_link_form(alt, 6) == 0 && teq_echain_link_form(alt + 4, 2) == 0, "Sub taken for Add");
    CHECK(teq_echain_link_form(hs, 5) == 0 && teq_echain_link_form(hs, 3) == 0, "a partial form taken");
    printf("one-pass links: %d cases bit for bit as their steps: %s\n", cases, bad ? "FAIL" : "ok");
    free(x), free(ya), free(yb);
}

int main(int argc, char **argv) {
    const char *path = "tests/fixtures/hswish_chain.onnx";
    unsigned seed = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : (unsigned)time(NULL);
    printf("seed %u\n", seed);
    srand(seed);
    teq_error err;
    teq_model *fused = NULL, *plain = NULL;
    setenv("TEQ_FUSE", "0", 1);
    CHECK(teq_model_load(path, &plain, &err) == TEQ_OK, "load unfused: %s", err.msg);
    unsetenv("TEQ_FUSE");
    CHECK(teq_model_load(path, &fused, &err) == TEQ_OK, "load fused: %s", err.msg);
    if (!fused || !plain) {
        printf("%d passed, %d failed\n", n_pass, n_fail);
        return 1;
    }
    /* y: 4 steps; r: Sub -> Relu (stops: r is an output and read by z's Sub); w: Mul -> Div */
    CHECK(count_op(fused->g, "TeqElementwise") == 3, "%d fused nodes, expected 3",
          count_op(fused->g, "TeqElementwise"));
    CHECK(fused->g->n_nodes == 4, "fused graph has %d nodes, expected 4 (3 fused + z's Sub)", fused->g->n_nodes);
    CHECK(count_op(plain->g, "TeqElementwise") == 0, "TEQ_FUSE=0 still fused");

    const int64_t dims[4] = {2, 3, 5, 7};
    teq_tensor *x;
    CHECK(teq_tensor_create(TEQ_DTYPE_FLOAT, 4, dims, &x, &err) == TEQ_OK, "tensor");
    float *xv = x->data;
    const float special[] = {NAN, INFINITY, -INFINITY, -0.0f, 0.0f, 1e-40f, -1e-40f, 3.0f, -3.0f, 6.0f, -6.0f,
                             3.0000002f, 1.0f, 3.4e38f, -3.4e38f};
    const int ns = (int)(sizeof special / sizeof special[0]);
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < 210; i++)
            xv[i] = i < ns && round == 0 ? special[i] : (float)((rand() / (double)RAND_MAX - 0.5) * 16.0);
        teq_tensor *oa[4] = {0}, *ob[4] = {0};
        const teq_tensor *in[1] = {x};
        teq_status s1 = teq_model_run(fused, 1, NULL, in, oa, &err), s2 = teq_model_run(plain, 1, NULL, in, ob, &err);
        CHECK(s1 == TEQ_OK && s2 == TEQ_OK, "run: %s", err.msg);
        if (s1 || s2) break;
        for (int o = 0; o < 4; o++) {
            CHECK(teq_tensor_numel(oa[o]) == 210 && teq_tensor_numel(ob[o]) == 210, "output %d size", o);
            int diff = memcmp(oa[o]->data, ob[o]->data, 210 * sizeof(float));
            CHECK(diff == 0, "output %d differs from the unfused graph (round %d)", o, round);
            teq_tensor_free(oa[o]);
            teq_tensor_free(ob[o]);
        }
    }
    teq_tensor_free(x);
    teq_model_free(fused);
    teq_model_free(plain);

    one_pass_links();

    /* the project's Fashion-MNIST ResNet: 7 of its 13 Relus follow a Conv alone (the others follow an Add) */
    /* all 13 of its Relus: 8 follow a Conv alone, 5 an Add */
    int na = 0;
    const int nf = chains_vs_nodes("models/fmnist_resnet.onnx", seed, &na);
    CHECK(nf == 13 && na == 5, "fmnist: %d nodes fused (%d Relus into Adds), expected 13 (5)", nf, na);
    printf("fmnist FP32: %d nodes fused into the node before them (%d Relus into Adds), outputs identical to running "
           "them\n", nf, na);
    /* set up by scripts/setup.sh: M-LSD (Conv -> Clip(0, 6) as TensorFlow exports Relu6, after packed and
     * depthwise Convs), PP-OCRv4 rec (HardSwish chains after depthwise Convs), the PP-OCR cls
     * (BatchNormalization left after its Convs, then Relu or HardSwish) and BlazeFace (Add -> Relu after each
     * residual block) */
    const char *more[4][2] = {{"M-LSD", "cache/models/mlsd_320x320_tiny.onnx"},
                              {"rec", "cache/models/ch_PP-OCRv4_rec_infer.onnx"},
                              {"cls", "cache/models/ch_ppocr_mobile_v2.0_cls_infer.onnx"},
                              {"BlazeFace", "cache/models/face_detection_front_128x128_barracuda.onnx"}};
    for (int k = 0; k < 4; k++) {
        const int nm = chains_vs_nodes(more[k][1], seed, &na);
        if (nm < 0) {
            skip_missing(more[k][0], more[k][1]);
        } else {
            CHECK(nm > 0, "%s: %d nodes fused into the node before them, expected some", more[k][0], nm);
            /* BlazeFace: 16 Relus into Adds; its 11 shortcuts widened by Concat with zeros go to their Adds */
            if (k == 3) CHECK(na == 16 && n_zpad == 11, "BlazeFace: %d Relus fused into Adds, %d zero-padded Concats",
                              na, n_zpad);
            printf("%s FP32: %d nodes fused into the node before them (%d Relus into Adds, %d zero-padded Concats "
                   "into Adds)\n", more[k][0], nm, na, n_zpad);
        }
    }
    pads_folded("cache/models/mlsd_320x320_tiny.onnx", seed);
    profile_check("models/fmnist_resnet.onnx", seed);
    printf("%d passed, %d failed\n", n_pass, n_fail);
    return n_fail != 0;
}
