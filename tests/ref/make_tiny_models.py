"""make_tiny_models.py: builds the tiny random Stable Diffusion 1.x models that the
C tests check the engine against, and dumps each module's inputs and outputs.

For each config (sd-tiny-a, sd-tiny-b) it writes a diffusers folder under
tests/golden/tiny/<cfg>/ (text_encoder, unet, vae, scheduler, model_index.json;
no tokenizer/: the engine ships the CLIP vocabulary) with weights stored as f16,
and goldens computed in f32 from exactly those f16 values:
  golden/text_encoder.safetensors  input_ids, last_hidden_state, penultimate
  golden/unet.safetensors          sample, timestep, encoder_hidden_states, out
  golden/vae.safetensors           latents, decoded, image, posterior_mean, posterior_logvar

Run from the repository root:  python3 tests/ref/make_tiny_models.py
Versions: tests/ref/requirements.txt.
"""
import json
import os

import torch
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel
from diffusers import AutoencoderKL, UNet2DConditionModel

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "tiny")

TEXT = dict(vocab_size=49408, hidden_size=32, intermediate_size=37, num_attention_heads=4,
            num_hidden_layers=3, max_position_embeddings=77, hidden_act="quick_gelu",
            layer_norm_eps=1e-5, bos_token_id=49406, eos_token_id=49407, pad_token_id=1,
            projection_dim=32)

CONFIGS = {
    "sd-tiny-a": dict(
        unet=dict(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 64),
                  down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                  up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
                  layers_per_block=2, attention_head_dim=2, cross_attention_dim=32, norm_num_groups=32),
        vae=dict(in_channels=3, out_channels=3, block_out_channels=(32, 32, 64, 64),
                 down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                 layers_per_block=1, latent_channels=4, norm_num_groups=32, sample_size=64),
        latent_hw=(8, 8)),
    "sd-tiny-b": dict(
        unet=dict(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 64, 64),
                  down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
                  up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
                  layers_per_block=2, attention_head_dim=4, cross_attention_dim=32, norm_num_groups=8),
        vae=dict(in_channels=3, out_channels=3, block_out_channels=(16, 32, 32),
                 down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
                 layers_per_block=2, latent_channels=4, norm_num_groups=8, sample_size=32),
        latent_hw=(8, 12)),
}

# As in the scheduler_config.json of the SD 1.x releases (written by diffusers 0.6 era
# tools; it carries DDIM's clip_sample too, which PNDM ignores).
SCHEDULER = {"_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012,
             "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
             "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
             "trained_betas": None, "clip_sample": False}


def randomise(module, seed):
    """Default init leaves norms at 1/0 and some layers at zero; give every tensor
    random values so a wrong affine or a missing bias shows up, then round to f16."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif "embedding" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p[0].numel() if p.dim() > 1 else p.numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in ** 0.5)
            p.copy_(p.half().float())  # stored as f16; goldens use exactly these values


def save_half(module, folder, safe_name):
    module.half().save_pretrained(folder, safe_serialization=True)
    module.float()


def main():
    torch.manual_seed(0)
    for index, (name, cfg) in enumerate(CONFIGS.items()):
        out = os.path.join(ROOT, name)
        golden = os.path.join(out, "golden")
        os.makedirs(golden, exist_ok=True)

        text = CLIPTextModel(CLIPTextConfig(**TEXT)).eval()
        randomise(text, 100 + index)
        unet = UNet2DConditionModel(**cfg["unet"]).eval()
        randomise(unet, 200 + index)
        vae = AutoencoderKL(**cfg["vae"]).eval()
        randomise(vae, 300 + index)

        for module, sub in ((text, "text_encoder"), (unet, "unet"), (vae, "vae")):
            save_half(module, os.path.join(out, sub), sub)
        os.makedirs(os.path.join(out, "scheduler"), exist_ok=True)
        with open(os.path.join(out, "scheduler", "scheduler_config.json"), "w") as f:
            json.dump(SCHEDULER, f, indent=2)
        with open(os.path.join(out, "model_index.json"), "w") as f:
            json.dump({"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.31.0",
                       "text_encoder": ["transformers", "CLIPTextModel"],
                       "tokenizer": ["transformers", "CLIPTokenizer"],
                       "unet": ["diffusers", "UNet2DConditionModel"],
                       "vae": ["diffusers", "AutoencoderKL"],
                       "scheduler": ["diffusers", "PNDMScheduler"],
                       "safety_checker": [None, None], "feature_extractor": [None, None],
                       "requires_safety_checker": False}, f, indent=2)

        g = torch.Generator().manual_seed(1000 + index)
        h, w = cfg["latent_hw"]
        with torch.no_grad():
            # Text encoder: a real-looking prompt (BOS, words, EOS, EOS padding) and a random one.
            ids = torch.full((2, 77), 49407, dtype=torch.int64)
            ids[0, :6] = torch.tensor([49406, 320, 1929, 539, 320, 2368])  # "a photo of a cat"
            ids[0, 6] = 49407
            ids[1, 0] = 49406
            ids[1, 1:76] = torch.randint(0, 49406, (75,), generator=g)
            outputs = text(ids, output_hidden_states=True)
            penultimate = text.text_model.final_layer_norm(outputs.hidden_states[-2])
            save_file({"input_ids": ids, "last_hidden_state": outputs.last_hidden_state.contiguous(),
                       "penultimate": penultimate.contiguous()},
                      os.path.join(golden, "text_encoder.safetensors"))

            sample = torch.randn((2, 4, h, w), generator=g)
            timestep = torch.tensor([500.0])
            context = torch.randn((2, 77, TEXT["hidden_size"]), generator=g)
            unet_out = unet(sample, timestep, encoder_hidden_states=context).sample
            save_file({"sample": sample, "timestep": timestep, "encoder_hidden_states": context,
                       "out": unet_out.contiguous()}, os.path.join(golden, "unet.safetensors"))

            latents = torch.randn((1, 4, h, w), generator=g)
            decoded = vae.decode(latents).sample
            factor = 2 ** (len(cfg["vae"]["block_out_channels"]) - 1)
            image = torch.rand((1, 3, h * factor, w * factor), generator=g) * 2 - 1
            dist = vae.encode(image).latent_dist
            save_file({"latents": latents, "decoded": decoded.contiguous(), "image": image,
                       "posterior_mean": dist.mean.contiguous(), "posterior_logvar": dist.logvar.contiguous()},
                      os.path.join(golden, "vae.safetensors"))
        print(f"wrote {out}: unet out |max| {unet_out.abs().max():.3f}, vae decoded |max| {decoded.abs().max():.3f}, "
              f"text |max| {outputs.last_hidden_state.abs().max():.3f}")


if __name__ == "__main__":
    main()
