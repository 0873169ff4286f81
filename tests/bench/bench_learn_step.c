/* bench_learn_step.c: times one textual-inversion step (ow_learn_step_run: text
 * encoder with the placeholder's row, UNet, MSE, backward to the row; then
 * ow_adamw_step) on the CPU backend, on the random SD 1.5 folder of
 * tests/bench/make_sd15_random.py, batch 1, caption "a photo of a *". The model's
 * weights are frozen and no weight gradient exists. --checkpointing: the UNet keeps
 * only block inputs and its backward recomputes each block; without it every
 * differentiated block keeps its tape.
 * Prints one JSON line per size: {"size", "seconds" (best of --repeat), "loss", "checkpointing",
 * "peak_rss_mib" (this process's high-water mark so far: the model incl. its VAE,
 * which a step does not use, plus the step), "threads"}.
 *
 * usage: bench_learn_step CACHE [--threads N] [--repeat N] [--checkpointing] [--precision fp32|bf16] SIZE... */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "blas_restart.h"

#include "pipeline/embeddings.h"
#include "pipeline/pipeline.h"
#include "sampling/torch_rng.h"
#include "train/learn_step.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int run_size(ow_model *m, int size, int repeat, int first_row, int threads, int checkpointing) {
    ow_error err = {0};
    const int lat = size / 8, H = m->text_encoder->config.hidden_size;
    const size_t nlat = (size_t)4 * lat * lat;
    float *x0 = malloc(nlat * sizeof *x0), *noise = malloc(nlat * sizeof *noise);
    float *alphas = malloc((size_t)m->schedule.num_train_timesteps * sizeof *alphas);
    float *grad = calloc((size_t)H, sizeof *grad), *m1 = calloc((size_t)H, sizeof *m1), *m2 = calloc((size_t)H, sizeof *m2);
    int32_t ids[77];
    ow_torch_rng rng;
    ow_torch_rng_seed(&rng, (uint64_t)size);
    ow_torch_randn(&rng, x0, nlat);
    ow_torch_randn(&rng, noise, nlat);
    const float t = 500.0f;
    ow_learn_step w;
    ow_adamw opt = {(size_t)H, m1, m2, 0};
    ow_status s = ow_schedule_alphas_cumprod(&m->schedule, alphas, &err);
    if (s == OW_OK) s = ow_model_encode_ids(m, "a photo of a *", "caption", ids, &err);
    if (s == OW_OK) s = ow_learn_step_init(&w, m, 1, lat, checkpointing, &err);
    double best = 1e30, loss = 0.0;
    for (int r = 0; r < repeat && s == OW_OK; r++) {
        memset(grad, 0, (size_t)H * sizeof *grad);
        const double start = now();
        s = ow_learn_step_run(&w, m, ids, x0, noise, &t, NULL, alphas, 1.0, first_row, 1, grad, &loss, &err);
        if (s == OW_OK) ow_adamw_step(&opt, m->embeddings->rows + (size_t)first_row * H, grad, 5e-3f, 1e-2f);
        const double took = now() - start;
        if (took < best) best = took;
    }
    if (s == OW_OK) ow_learn_step_free(&w, m);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    if (s == OW_OK)
        printf("{\"size\": %d, \"precision\": \"%s\", \"seconds\": %.3f, \"loss\": %.6f, \"checkpointing\": %d, "
               "\"peak_rss_mib\": %.0f, \"threads\": %d}\n", size, ow_precision_name(ow_model_precision(m)), best, loss,
               checkpointing, ru.ru_maxrss / 1024.0, threads);
    else
        fprintf(stderr, "bench_learn_step: %d: %s\n", size, err.message);
    fflush(stdout);
    free(x0); free(noise); free(alphas); free(grad); free(m1); free(m2);
    return s == OW_OK ? 0 : 1;
}

int main(int argc, char **argv) {
    blas_restart_if_generic(argv); /* the kernels the oneword command runs */
    const char *cache = NULL;
    int threads = 0, repeat = 2, sizes[8], n_sizes = 0, checkpointing = 0;
    ow_precision precision = OW_PRECISION_FP32;
    int bad = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--repeat") == 0 && i + 1 < argc) repeat = atoi(argv[++i]);
        else if (strcmp(argv[i], "--checkpointing") == 0) checkpointing = 1;
        else if (strcmp(argv[i], "--precision") == 0 && i + 1 < argc) {
            bad |= ow_precision_parse(argv[++i], &precision) != 0;
        }
        else if (!cache) cache = argv[i];
        else if (n_sizes < 8) sizes[n_sizes++] = atoi(argv[i]);
    }
    if (bad || !cache || n_sizes == 0 || repeat < 1) {
        fprintf(stderr, "usage: bench_learn_step CACHE [--threads N] [--repeat N] [--checkpointing] "
                        "[--precision fp32|bf16] SIZE...\n");
        return 2;
    }
    ow_error err = {0};
    ow_model_options opts;
    ow_model_options_init(&opts);
    opts.threads = threads;
    opts.precision = precision;
    ow_model *m = NULL;
    if (ow_model_open(&m, cache, &opts, &err) != OW_OK) {
        fprintf(stderr, "bench_learn_step: %s: %s\n", cache, err.message);
        return 1;
    }
    /* "*" = the row of "cat", as the PyTorch side starts */
    const int H = m->text_encoder->config.hidden_size;
    float *row = malloc((size_t)H * sizeof *row);
    m->backend->download(m->backend, row, m->text_encoder->token_embedding.data + (size_t)2368 * H, (size_t)H);
    ow_embedding *emb = NULL;
    ow_status s = ow_embedding_create(&emb, &err);
    if (s == OW_OK) s = ow_embedding_add(emb, "*", row, 1, H, &err);
    if (s == OW_OK) s = ow_model_add_embedding_data(m, emb, "bench", &err);
    ow_embedding_free(emb);
    free(row);
    int status = s == OW_OK ? 0 : 1;
    if (s != OW_OK) fprintf(stderr, "bench_learn_step: %s\n", err.message);
    const int first_row = s == OW_OK ? m->embeddings->tokens[m->embeddings->count - 1].first_row : 0;
    for (int i = 0; i < n_sizes && status == 0; i++) status = run_size(m, sizes[i], repeat, first_row, threads, checkpointing);
    ow_model_close(m);
    return status;
}
