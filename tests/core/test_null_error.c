/* test_null_error.c: every ow_error* in the API may be NULL. Failing calls given NULL
 * return their status and do not crash: bad paths, bad parameters, and (in a child
 * process whose address space is capped, outside ASan builds) a UNet pass and a UNet
 * training pass that run out of memory inside, the paths that read the error's
 * status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "backend/backend.h"
#include "model/blocks.h"
#include "model/unet_train.h"
#include "oneword.h"
#include "pipeline/pipeline.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

/* Virtual memory of this process now, in bytes. */
static long long address_space(void) {
    FILE *f = fopen("/proc/self/statm", "r");
    long long pages = 0;
    if (f) {
        if (fscanf(f, "%lld", &pages) != 1) pages = 0;
        fclose(f);
    }
    return pages * sysconf(_SC_PAGESIZE);
}

/* In a child: open the tiny model, then run a UNet pass (what 0: ow_unet_forward, 1:
 * the training forward) on 8 latents of 48x48 with a NULL ow_error*, the address space
 * capped `margin` bytes above what the inputs take, so that an allocation inside the
 * pass fails (which one depends on the margin). Exit 0 when it failed cleanly with OW_ERR_OUT_OF_MEMORY, 1 if it succeeded,
 * 2 for another status. */
static int out_of_memory_child(int what, long long margin) {
    ow_model *m = NULL;
    ow_model_options o;
    ow_model_options_init(&o);
    o.threads = 1;
    if (ow_model_open(&m, source_path("tests/golden/tiny/sd-tiny-b"), &o, NULL) != OW_OK) return 3;
    ow_backend *b = m->backend;
    const int L = 48, T = 77, B = 8, C = m->unet->config.cross_attention_dim;
    float *sample = b->alloc(b, (size_t)B * 4 * L * L), *out = b->alloc(b, (size_t)B * 4 * L * L);
    float *context = b->alloc(b, (size_t)B * T * C);
    if (!sample || !out || !context) return 4;
    memset(sample, 0, (size_t)B * 4 * L * L * sizeof *sample); /* touched: counted before the cap */
    memset(context, 0, (size_t)B * T * C * sizeof *context);
    const float t[8] = {500, 500, 500, 500, 500, 500, 500, 500};
    struct rlimit cap = {(rlim_t)(address_space() + margin), 0};
    cap.rlim_max = cap.rlim_cur;
    setrlimit(RLIMIT_AS, &cap);
    ow_status s;
    if (what == 0) {
        s = ow_unet_forward(m->unet, b, sample, B, L, L, t, context, T, out, NULL);
    } else {
        ow_unet_tape *tape = NULL;
        s = ow_unet_forward_train(m->unet, b, sample, B, L, L, t, context, T, 0, out, &tape, NULL);
        ow_unet_tape_free(tape);
    }
    return s == OW_ERR_OUT_OF_MEMORY ? 0 : s == OW_OK ? 1 : 2;
}

int main(void) {
    ow_model *m = NULL;
    CHECK(ow_model_open(&m, "/nonexistent/model", NULL, NULL) != OW_OK && !m, "a missing model, NULL error");
    ow_embedding *emb = NULL;
    CHECK(ow_embedding_load(&emb, "/nonexistent.pt", NULL) != OW_OK && !emb, "a missing embedding, NULL error");
    CHECK(ow_embedding_load(&emb, source_path("tests/golden/formats/not_a_checkpoint.txt"), NULL) != OW_OK,
          "not an embedding, NULL error");
    ow_learn_state *state = NULL;
    CHECK(ow_learn_state_load(&state, source_path("tests/golden/formats/not_a_checkpoint.txt"), NULL) != OW_OK,
          "not a training state, NULL error");
    ow_model_options o;
    ow_model_options_init(&o);
    o.threads = 1;
    if (ow_model_open(&m, source_path("tests/golden/tiny/sd-tiny-b"), &o, NULL) == OW_OK) {
        ow_generate_params g;
        ow_generate_params_init(&g);
        g.prompt = "a cat";
        g.steps = 0;
        CHECK(ow_generate(m, &g, NULL, NULL) != OW_OK, "generate with 0 steps, NULL error");
        ow_learn_params p;
        ow_learn_params_init(&p);
        p.init_word = "glorpwizzle";
        CHECK(ow_learn(m, NULL, 0, &p, &emb, NULL) != OW_OK, "learn without images, NULL error");
        ow_model_close(m);
    }
    printf("ok   failing calls with a NULL ow_error*: statuses returned, no crash\n");

    /* The root: a pass's ow_run always has an error to read, its own when given NULL. */
    ow_backend *b = NULL;
    if (!UNDER_ASAN && ow_cpu_backend_create(&b, 1, NULL) == OW_OK) { /* ASan aborts on an impossible size */
        ow_run run;
        ow_run_begin(&run, b, NULL);
        float *huge = ow_run_alloc(&run, (size_t)1 << 60);
        CHECK(!huge && run.err && run.err->status == OW_ERR_OUT_OF_MEMORY,
              "ow_run begun with a NULL ow_error*: a failed allocation's status is readable (%d)",
              run.err ? (int)run.err->status : -1);
        if (!huge && run.err) printf("ok   ow_run begun with a NULL ow_error*: a failed allocation reads OW_ERR_OUT_OF_MEMORY\n");
        ow_run_end(&run);
        b->destroy(b);
    }

    if (UNDER_ASAN) {
        printf("     (the out-of-memory checks need a capped address space: not under ASan)\n");
        CHECK_DONE();
    }
    const char *names[2] = {"a UNet pass", "a UNet training pass"};
    /* margins of -4 to 8 MB (freed heap is reused below the cap): the pass fails at one allocation after another */
    for (int what = 0; what < 2; what++) {
        int clean = 0, failed_oom = 0, tries = 0;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        /* the inference pass reuses what it frees and mostly finishes (seconds): one margin */
        const long long last = what == 0 ? -(4ll << 20) : 8ll << 20;
        for (long long margin = -(4ll << 20); margin <= last; margin += 2ll << 20) {
            pid_t pid = fork();
            if (pid == 0) _exit(out_of_memory_child(what, margin));
            int status = 0;
            waitpid(pid, &status, 0);
            tries++;
            const int ok = WIFEXITED(status) && WEXITSTATUS(status) <= 1;
            clean += ok;
            failed_oom += WIFEXITED(status) && WEXITSTATUS(status) == 0;
            CHECK(ok, "%s with %lld KB to spare, NULL ow_error*: %s %d", names[what], margin / 1024,
                  WIFEXITED(status) ? "exit" : "signal", WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (clean == tries)
            printf("ok   %s with -4..8 MB to spare, NULL ow_error*: %d of %d runs out of memory cleanly, the rest "
                   "finish, no crash (%.1f s)\n", names[what], failed_oom, tries,
                   (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    }
    CHECK_DONE();
}
