"""make_model_variants.py: tiny UNet and VAE layouts that the two tiny SD 1.x models
do not cover, with diffusers goldens, for tests/model/test_unet.c and test_vae.c.

Writes tests/golden/model/<name>/{config.json, diffusion_pytorch_model.safetensors,
golden.safetensors} (weights f16, goldens f32 computed from exactly those values):
  unet-sd2     SD 2.x style: use_linear_projection, per-block heads ([2, 4]) and layers
               ([1, 2]), transformer_layers_per_block [1, 2], upcast_attention,
               flip_sin_to_cos false, freq_shift 1, time_embedding_dim 48,
               a different timestep per batch item, 7 context tokens
  unet-nomid   mid_block_type null, DownBlock2D first, CrossAttnUpBlock2D first
  vae-plain    mid_block_add_attention false, no quant_conv / post_quant_conv,
               3 latent channels, batch 2, non-square
and tests/golden/model/timestep_embedding.safetensors: diffusers' get_timestep_embedding
for dims 320 and 321 and several timesteps (torch f32 math).

Run from the repository root:  python3 tests/ref/make_model_variants.py
Versions: tests/ref/requirements.txt.
"""
import os

import torch
from safetensors.torch import save_file
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.models.embeddings import get_timestep_embedding

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "model")

UNETS = {
    "unet-sd2": dict(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(16, 32),
                     down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
                     up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
                     layers_per_block=[1, 2], attention_head_dim=[2, 4], transformer_layers_per_block=[1, 2],
                     cross_attention_dim=24, norm_num_groups=8, norm_eps=1e-6, use_linear_projection=True,
                     upcast_attention=True, flip_sin_to_cos=False, freq_shift=1, time_embedding_dim=48),
    "unet-nomid": dict(sample_size=4, in_channels=4, out_channels=4, block_out_channels=(16, 16),
                       down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                       up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), mid_block_type=None,
                       layers_per_block=1, attention_head_dim=4, cross_attention_dim=16, norm_num_groups=8),
}
UNET_INPUTS = {"unet-sd2": dict(batch=2, hw=(8, 4), tokens=7, timesteps=[999.0, 37.5]),
               "unet-nomid": dict(batch=1, hw=(4, 6), tokens=3, timesteps=[1.0])}

VAE = dict(in_channels=3, out_channels=3, block_out_channels=(8, 16),
           down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
           layers_per_block=1, latent_channels=3, norm_num_groups=4, sample_size=16,
           mid_block_add_attention=False, use_quant_conv=False, use_post_quant_conv=False)


def randomise(module, seed):
    """Random values for every tensor (norm scales near 1), rounded to f16."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in module.named_parameters():
            if "norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            else:
                fan_in = p[0].numel() if p.dim() > 1 else p.numel()
                p.copy_(torch.randn(p.shape, generator=g) / fan_in ** 0.5)
            p.copy_(p.half().float())


def save(module, folder):
    module.half().save_pretrained(folder, safe_serialization=True)
    module.float()


def main():
    os.makedirs(ROOT, exist_ok=True)
    with torch.no_grad():
        for index, (name, cfg) in enumerate(UNETS.items()):
            folder = os.path.join(ROOT, name)
            unet = UNet2DConditionModel(**cfg).eval()
            randomise(unet, 500 + index)
            save(unet, folder)
            spec = UNET_INPUTS[name]
            g = torch.Generator().manual_seed(600 + index)
            h, w = spec["hw"]
            sample = torch.randn((spec["batch"], 4, h, w), generator=g)
            timestep = torch.tensor(spec["timesteps"])
            context = torch.randn((spec["batch"], spec["tokens"], cfg["cross_attention_dim"]), generator=g)
            out = unet(sample, timestep, encoder_hidden_states=context).sample
            save_file({"sample": sample, "timestep": timestep, "encoder_hidden_states": context,
                       "out": out.contiguous()}, os.path.join(folder, "golden.safetensors"))
            print(f"wrote {folder}: out {tuple(out.shape)} |max| {out.abs().max():.3f}")

        folder = os.path.join(ROOT, "vae-plain")
        vae = AutoencoderKL(**VAE).eval()
        randomise(vae, 700)
        save(vae, folder)
        g = torch.Generator().manual_seed(800)
        latents = torch.randn((2, 3, 4, 6), generator=g)
        decoded = vae.decode(latents).sample
        image = torch.rand((2, 3, 8, 12), generator=g) * 2 - 1
        dist = vae.encode(image).latent_dist
        save_file({"latents": latents, "decoded": decoded.contiguous(), "image": image,
                   "posterior_mean": dist.mean.contiguous(), "posterior_logvar": dist.logvar.contiguous()},
                  os.path.join(folder, "golden.safetensors"))
        print(f"wrote {folder}: decoded {tuple(decoded.shape)}, mean {tuple(dist.mean.shape)}")

        timesteps = torch.tensor([0.0, 0.5, 1.0, 37.5, 500.0, 999.0])
        emb = {}
        for dim in (320, 321):
            for flip, shift in ((True, 0), (False, 1)):
                emb[f"dim{dim}_flip{int(flip)}_shift{shift}"] = get_timestep_embedding(
                    timesteps, dim, flip_sin_to_cos=flip, downscale_freq_shift=shift).contiguous()
        emb["timesteps"] = timesteps
        path = os.path.join(ROOT, "timestep_embedding.safetensors")
        save_file(emb, path)
        print(f"wrote {path}: {sorted(emb)}")


if __name__ == "__main__":
    main()
