/* fuzz_model_config.c: libFuzzer harness for the model configs: a folder's JSON (the
 * UNet, VAE and text encoder config.json and scheduler_config.json) and a single
 * file's original LDM .yaml (model/ldm_config.h): any text must
 * give OW_OK with a configuration whose sizes are in range, or an error with a
 * message; never a crash, a leak, a hang or signed overflow (UBSan halts). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "model/clip_text.h"
#include "model/ldm_config.h"
#include "model/model_config.h"
#include "model/unet.h"
#include "model/vae.h"
#include "sampling/schedule.h"

static void must_explain(ow_status s, const ow_error *err) {
    if (s != OW_OK && !err->message[0]) abort(); /* every failure explains itself */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    ow_error err = {0};
    json_object *config = NULL;
    ow_status s = ow_config_parse_text(text, &config, &err);
    must_explain(s, &err);
    if (s == OW_OK) {
        ow_unet_config unet;
        must_explain(ow_unet_config_from_json(&unet, config, &err), &err);
        ow_vae_config vae;
        if ((s = ow_vae_config_from_json(&vae, config, &err)) == OW_OK) (void)ow_vae_scale_factor(&vae);
        must_explain(s, &err);
        json_object_put(config);
    }
    ow_clip_text_config clip;
    if ((s = ow_clip_text_config_parse(&clip, text, &err)) == OW_OK) (void)ow_clip_text_param_count(&clip);
    must_explain(s, &err);
    ow_schedule_config schedule;
    if ((s = ow_schedule_config_parse(&schedule, text, &err)) == OW_OK && schedule.num_train_timesteps > 0 &&
        schedule.num_train_timesteps <= 100000) {
        float *alphas = malloc((size_t)schedule.num_train_timesteps * sizeof *alphas);
        if (alphas) must_explain(ow_schedule_alphas_cumprod(&schedule, alphas, &err), &err);
        free(alphas);
    }
    must_explain(s, &err);
    ow_ldm_config ldm;
    if ((s = ow_ldm_config_parse(&ldm, (const char *)data, size, "fuzz.yaml", &err)) == OW_OK) {
        static const int widths[4] = {320, 640, 1280, 1280};
        int heads[4], given;
        must_explain(ow_ldm_config_unet_heads(&ldm, 4, widths, heads, &given, &err), &err);
    }
    must_explain(s, &err);
    free(text);
    return 0;
}
