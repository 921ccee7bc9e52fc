/* libteq.so opened with dlopen, a model run on a thread of this program, the library closed while that thread
 * still lives, then the thread ends. The convolution kernels keep each thread's scratch under a pthread key whose
 * destructor lives in the library (kernels/dispatch.c): without the library's own destructor deleting that key,
 * the thread's exit called into unmapped code (a segmentation fault, measured). Runs the project's Fashion-MNIST
 * network (models/), so it needs nothing the set-up fetches. */
#include "teq.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void *lib;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int stage, ran;

static void *worker(void *arg) {
    (void)arg;
    teq_status (*load)(const char *, teq_model **, teq_error *) = (teq_status(*)(const char *, teq_model **, teq_error *))dlsym(lib, "teq_model_load");
    teq_status (*create)(teq_dtype, int, const int64_t *, teq_tensor **, teq_error *) =
        (teq_status(*)(teq_dtype, int, const int64_t *, teq_tensor **, teq_error *))dlsym(lib, "teq_tensor_create");
    teq_status (*run)(teq_model *, int, const char *const *, const teq_tensor *const *, teq_tensor **, teq_error *) =
        (teq_status(*)(teq_model *, int, const char *const *, const teq_tensor *const *, teq_tensor **, teq_error *))dlsym(lib, "teq_model_run");
    void (*threads)(teq_model *, int) = (void (*)(teq_model *, int))dlsym(lib, "teq_model_set_threads");
    void (*mfree)(teq_model *) = (void (*)(teq_model *))dlsym(lib, "teq_model_free");
    void (*tfree)(teq_tensor *) = (void (*)(teq_tensor *))dlsym(lib, "teq_tensor_free");
    teq_model *m = NULL;
    teq_tensor *x = NULL, *y[4] = {0};
    teq_error e;
    const int64_t dims[4] = {1, 1, 28, 28};
    if (load && create && run && threads && mfree && tfree && !load(TEQ_SOURCE_DIR "/models/fmnist_resnet.onnx", &m, &e) &&
        !create(TEQ_DTYPE_FLOAT, 4, dims, &x, &e)) {
        threads(m, 1); /* the convolutions on this very thread: its scratch is the one at stake */
        const char *names[1] = {"image"};
        const teq_tensor *in[1] = {x};
        ran = !run(m, 1, names, in, y, &e);
        if (!ran) printf("run: %s\n", e.msg);
        for (int i = 0; i < 4; i++)
            if (y[i]) tfree(y[i]);
        tfree(x);
        mfree(m);
    } else {
        printf("load: %s\n", m ? "input" : "model");
    }
    pthread_mutex_lock(&mu);
    stage = 1;
    pthread_cond_signal(&cv);
    while (stage < 2) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    return NULL; /* ends after dlclose */
}

int main(void) {
    char path[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 16);
    if (n <= 0) {
        printf("0 passed, 1 failed (no /proc/self/exe)\n");
        return 1;
    }
    path[n] = 0;
    strcpy(strrchr(path, '/') + 1, "libteq.so");
    lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        printf("dlopen: %s\n0 passed, 1 failed\n", dlerror());
        return 1;
    }
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    pthread_mutex_lock(&mu);
    while (stage < 1) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    const int closed = dlclose(lib) == 0;
    pthread_mutex_lock(&mu);
    stage = 2;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
    pthread_join(t, NULL); /* the thread's key destructors run here */
    const int ok = ran && closed;
    printf("%s: a model run on a thread, libteq.so closed, the thread ended (ran %d, dlclose %d)\n", ok ? "PASS" : "FAIL",
           ran, closed);
    printf("%d passed, %d failed\n", ok, !ok);
    return ok ? 0 : 1;
}
