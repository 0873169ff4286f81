"""make_sd15_random.py: a complete random-weight Stable Diffusion 1.5 diffusers folder
for the generation benchmark (tests/bench/run_unet measures the peak RSS of a 512x512
`oneword generate` on it).

Writes into CACHE_DIR (next to the unet/ that unet_torch.py writes, built the same
way when absent): text_encoder/ (CLIPTextModel with the SD 1.x CLIPTextConfig:
hidden 768, 12 layers, 12 heads, intermediate 3072, vocab 49408, 77 positions,
quick_gelu), vae/ (AutoencoderKL with the SD config: block_out_channels
(128, 256, 512, 512), 2 layers per block, 4 latent channels, scaling 0.18215),
scheduler/scheduler_config.json (as the SD 1.x releases ship it) and
model_index.json. Weights are f16 as in the usual SD 1.5 downloads; seeds fixed.
Parts already present are kept.

usage: python3 make_sd15_random.py CACHE_DIR
"""
import json
import os
import sys

import torch
from diffusers import AutoencoderKL
from transformers import CLIPTextConfig, CLIPTextModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from unet_torch import load_unet  # noqa: E402

TEXT = dict(vocab_size=49408, hidden_size=768, intermediate_size=3072, projection_dim=768,
            num_hidden_layers=12, num_attention_heads=12, max_position_embeddings=77,
            hidden_act="quick_gelu", layer_norm_eps=1e-5, bos_token_id=0, eos_token_id=2, pad_token_id=1)
VAE = dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(128, 256, 512, 512),
           down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
           layers_per_block=2, norm_num_groups=32, sample_size=512, scaling_factor=0.18215)
SCHEDULER = {"_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012,
             "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
             "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
             "trained_betas": None, "clip_sample": False}
MODEL_INDEX = {"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.31.0",
               "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
               "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
               "scheduler": ["diffusers", "PNDMScheduler"], "safety_checker": [None, None],
               "feature_extractor": [None, None], "requires_safety_checker": False}


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_sd15_random.py CACHE_DIR")
    cache = sys.argv[1]
    load_unet(cache)  # writes unet/ when absent
    text_dir, vae_dir = os.path.join(cache, "text_encoder"), os.path.join(cache, "vae")
    if not os.path.exists(os.path.join(text_dir, "config.json")):
        torch.manual_seed(1)
        CLIPTextModel(CLIPTextConfig(**TEXT)).half().save_pretrained(text_dir, safe_serialization=True)
        print(f"wrote {text_dir}")
    if not os.path.exists(os.path.join(vae_dir, "config.json")):
        torch.manual_seed(2)
        AutoencoderKL(**VAE).half().save_pretrained(vae_dir, safe_serialization=True)
        print(f"wrote {vae_dir}")
    os.makedirs(os.path.join(cache, "scheduler"), exist_ok=True)
    for path, data in ((os.path.join(cache, "scheduler", "scheduler_config.json"), SCHEDULER),
                       (os.path.join(cache, "model_index.json"), MODEL_INDEX)):
        with open(path, "w") as f:
            json.dump(data, f, indent=2)
    print(f"wrote {cache}: scheduler/, model_index.json")


if __name__ == "__main__":
    main()
