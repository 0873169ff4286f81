"""make_single_file.py: turns the tiny diffusers folders (tests/golden/tiny/<cfg>/, written
by make_tiny_models.py) into single-file checkpoints in the original CompVis / A1111
layout, so the C checkpoint loader can be tested on every layout users have.

Writes (run from anywhere; needs make_tiny_models.py to have run first):
  tests/golden/tiny/<cfg>.safetensors         full model, f16, new-style CLIP keys
                                              (cond_stage_model.transformer.text_model.*);
                                              sd-tiny-b's token table cut to VOCAB_VARIANT rows
  tests/golden/tiny/variants/*                layout variants of sd-tiny-a (see main()), sd-tiny-b's
                                              VAE as an old-style .bin, SD 1.5 names and shapes

The key mapping (diffusers -> CompVis) is written here from the layout rules (the
inverse of what the C loader does), built from each folder's config.json, never
from SD 1.5 numbers.

Size: the text encoder's token table (49408 x 32) dominates, so the variants keep
only its first VOCAB_VARIANT rows (the C test feeds them ids below that), and each
variant holds only the submodels its layout question needs.

Single files carry `__metadata__` keys the loader reads for what tensor shapes
cannot tell (real SD 1.x files need none: 8 UNet heads, 12 text heads, 32 groups):
  oneword.unet.attention_head_dim           diffusers' config value (SD 1.x: heads)
  oneword.unet.norm_num_groups, oneword.unet.sample_size, oneword.vae.norm_num_groups
  oneword.text_encoder.num_attention_heads
(.ckpt files cannot carry them: the C test passes them as hints.)
"""
import json
import os
import shutil

import torch
from safetensors.torch import load_file

import stable_safetensors

HERE = os.path.dirname(os.path.abspath(__file__))
TINY = os.path.normpath(os.path.join(HERE, "..", "golden", "tiny"))
VARIANTS = os.path.join(TINY, "variants")
VOCAB_VARIANT = 1024

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
TEXT_PREFIX_NEW = "cond_stage_model.transformer."  # + text_model.*
TEXT_PREFIX_OLD = "cond_stage_model.transformer."  # + embeddings.* (transformers < 4.22 layout)

RESNET_RENAMES = [("norm1", "in_layers.0"), ("conv1", "in_layers.2"), ("time_emb_proj", "emb_layers.1"),
                  ("norm2", "out_layers.0"), ("conv2", "out_layers.3"), ("conv_shortcut", "skip_connection")]
VAE_ATTN_RENAMES = [("group_norm", "norm"), ("to_q", "q"), ("to_k", "k"), ("to_v", "v"), ("to_out.0", "proj_out")]


def rename_tail(tail, renames):
    """tail is 'norm1.weight' etc.: rename its first component(s)."""
    for new, old in renames:
        if tail.startswith(new + "."):
            return old + tail[len(new):]
    return tail


def unet_prefix_table(cfg):
    """(diffusers prefix, CompVis prefix, kind) from the UNet config."""
    levels = len(cfg["block_out_channels"])
    lpb = cfg["layers_per_block"]
    table = [("conv_in.", "input_blocks.0.0.", "plain"),
             ("time_embedding.linear_1.", "time_embed.0.", "plain"),
             ("time_embedding.linear_2.", "time_embed.2.", "plain"),
             ("conv_norm_out.", "out.0.", "plain"), ("conv_out.", "out.2.", "plain"),
             ("mid_block.resnets.0.", "middle_block.0.", "resnet"),
             ("mid_block.attentions.0.", "middle_block.1.", "plain"),
             ("mid_block.resnets.1.", "middle_block.2.", "resnet")]
    for level in range(levels):
        for j in range(lpb):
            block = 1 + level * (lpb + 1) + j
            table.append((f"down_blocks.{level}.resnets.{j}.", f"input_blocks.{block}.0.", "resnet"))
            table.append((f"down_blocks.{level}.attentions.{j}.", f"input_blocks.{block}.1.", "plain"))
        if level < levels - 1:
            block = 1 + level * (lpb + 1) + lpb
            table.append((f"down_blocks.{level}.downsamplers.0.conv.", f"input_blocks.{block}.0.op.", "plain"))
    for level in range(levels):
        has_attention = "CrossAttn" in cfg["up_block_types"][level]
        for j in range(lpb + 1):
            block = level * (lpb + 1) + j
            table.append((f"up_blocks.{level}.resnets.{j}.", f"output_blocks.{block}.0.", "resnet"))
            table.append((f"up_blocks.{level}.attentions.{j}.", f"output_blocks.{block}.1.", "plain"))
        if level < levels - 1:
            block = level * (lpb + 1) + lpb
            slot = 2 if has_attention else 1
            table.append((f"up_blocks.{level}.upsamplers.0.conv.", f"output_blocks.{block}.{slot}.conv.", "plain"))
    return table


def vae_prefix_table(cfg):
    levels = len(cfg["block_out_channels"])
    lpb = cfg["layers_per_block"]
    table = []
    for part in ("encoder", "decoder"):
        table += [(f"{part}.conv_in.", f"{part}.conv_in.", "plain"),
                  (f"{part}.conv_out.", f"{part}.conv_out.", "plain"),
                  (f"{part}.conv_norm_out.", f"{part}.norm_out.", "plain"),
                  (f"{part}.mid_block.resnets.0.", f"{part}.mid.block_1.", "vae_resnet"),
                  (f"{part}.mid_block.resnets.1.", f"{part}.mid.block_2.", "vae_resnet"),
                  (f"{part}.mid_block.attentions.0.", f"{part}.mid.attn_1.", "vae_attention")]
    for level in range(levels):
        for j in range(lpb):
            table.append((f"encoder.down_blocks.{level}.resnets.{j}.", f"encoder.down.{level}.block.{j}.", "vae_resnet"))
        if level < levels - 1:
            table.append((f"encoder.down_blocks.{level}.downsamplers.0.conv.", f"encoder.down.{level}.downsample.conv.", "plain"))
        stored = levels - 1 - level  # the decoder's up blocks are stored in reverse order
        for j in range(lpb + 1):
            table.append((f"decoder.up_blocks.{level}.resnets.{j}.", f"decoder.up.{stored}.block.{j}.", "vae_resnet"))
        if level < levels - 1:
            table.append((f"decoder.up_blocks.{level}.upsamplers.0.conv.", f"decoder.up.{stored}.upsample.conv.", "plain"))
    table += [("quant_conv.", "quant_conv.", "plain"), ("post_quant_conv.", "post_quant_conv.", "plain")]
    return table


def convert(state, table, what):
    out = {}
    for key, tensor in state.items():
        match = [row for row in table if key.startswith(row[0])]
        if len(match) != 1:
            raise SystemExit(f"{what}: {len(match)} mapping rows for {key}")
        new, old, kind = match[0]
        tail = key[len(new):]
        if kind == "resnet":
            tail = rename_tail(tail, RESNET_RENAMES)
        elif kind == "vae_resnet":
            tail = rename_tail(tail, [("conv_shortcut", "nin_shortcut")])
        elif kind == "vae_attention":
            tail = rename_tail(tail, VAE_ATTN_RENAMES)
            if tensor.dim() == 2:  # the original stores these linears as 1x1 convolutions
                tensor = tensor.reshape(tensor.shape[0], tensor.shape[1], 1, 1)
        out[old + tail] = tensor
    if len(out) != len(state):
        raise SystemExit(f"{what}: two keys mapped to the same name")
    return out


def load_folder(cfg_name):
    folder = os.path.join(TINY, cfg_name)
    with open(os.path.join(folder, "unet", "config.json")) as f:
        unet_cfg = json.load(f)
    with open(os.path.join(folder, "vae", "config.json")) as f:
        vae_cfg = json.load(f)
    with open(os.path.join(folder, "text_encoder", "config.json")) as f:
        text_cfg = json.load(f)
    unet = convert(load_file(os.path.join(folder, "unet", "diffusion_pytorch_model.safetensors")),
                   unet_prefix_table(unet_cfg), "unet")
    vae = convert(load_file(os.path.join(folder, "vae", "diffusion_pytorch_model.safetensors")),
                  vae_prefix_table(vae_cfg), "vae")
    text = load_file(os.path.join(folder, "text_encoder", "model.safetensors"))
    for key in text:
        assert key.startswith("text_model."), key
    # Real SD 1.x files carry the position_ids buffer (int64) with the text encoder.
    text["text_model.embeddings.position_ids"] = torch.arange(text_cfg["max_position_embeddings"]).unsqueeze(0)
    metadata = {"oneword.unet.attention_head_dim": json.dumps(unet_cfg["attention_head_dim"]),
                "oneword.unet.norm_num_groups": str(unet_cfg["norm_num_groups"]),
                "oneword.unet.sample_size": str(unet_cfg["sample_size"]),
                "oneword.vae.norm_num_groups": str(vae_cfg["norm_num_groups"]),
                "oneword.text_encoder.num_attention_heads": str(text_cfg["num_attention_heads"])}
    return unet, vae, text, metadata


def text_keys(text, old_style, vocab=None):
    out = {}
    for key, tensor in text.items():
        if vocab is not None and key.endswith("token_embedding.weight"):
            tensor = tensor[:vocab].clone()
        tail = key[len("text_model."):] if old_style else key
        out[(TEXT_PREFIX_OLD if old_style else TEXT_PREFIX_NEW) + tail] = tensor
    return out


def prefixed(state, prefix):
    return {prefix + k: v for k, v in state.items()}


def schedule_buffers():
    """The DDPM buffers CompVis LatentDiffusion saves next to the model (ignored by the loader)."""
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    alphas_cumprod = torch.cumprod(1.0 - betas, 0)
    return {"betas": betas.float(), "alphas_cumprod": alphas_cumprod.float()}


def cast(state, dtype):
    return {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in state.items()}


def write_safetensors(path, state, metadata):
    """A byte-stable .safetensors file (see stable_safetensors.py)."""
    stable_safetensors.save_file(state, path, metadata)
    print(f"wrote {os.path.relpath(path, TINY)}: {len(state)} tensors, {os.path.getsize(path)} bytes")


def verify_with_diffusers(cfg_name, state):
    """Cross-check: diffusers' own single-file converters must give back the folder's tensors."""
    from diffusers.loaders.single_file_utils import (convert_ldm_clip_checkpoint, convert_ldm_unet_checkpoint,
                                                     convert_ldm_vae_checkpoint)
    folder = os.path.join(TINY, cfg_name)
    for sub, fn, weights in (("unet", convert_ldm_unet_checkpoint, "diffusion_pytorch_model.safetensors"),
                             ("vae", convert_ldm_vae_checkpoint, "diffusion_pytorch_model.safetensors"),
                             ("text_encoder", None, "model.safetensors")):
        want = load_file(os.path.join(folder, sub, weights))
        if fn is None:
            got = convert_ldm_clip_checkpoint(state)
            got.pop("text_model.embeddings.position_ids")
        else:
            with open(os.path.join(folder, sub, "config.json")) as f:
                got = fn(state, json.load(f))
        assert sorted(got) == sorted(want), (sub, sorted(set(got) ^ set(want))[:5])
        for key in want:
            assert torch.equal(got[key], want[key]), (sub, key)
        print(f"checked {cfg_name} {sub}: diffusers' converter gives back all {len(want)} tensors")


def write_sd15_names():
    """The names and shapes of a real SD 1.5 checkpoint (no weights: models built on
    torch's meta device), as 'diffusers-name compvis-name d0,d1,...' lines, so the C
    test can check the key maps and the shape detection at full size."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel
    unet_cfg = dict(sample_size=64, cross_attention_dim=768, attention_head_dim=8)
    vae_cfg = dict(block_out_channels=[128, 256, 512, 512], down_block_types=["DownEncoderBlock2D"] * 4,
                   up_block_types=["UpDecoderBlock2D"] * 4, latent_channels=4, layers_per_block=2, sample_size=512)
    with torch.device("meta"):
        unet = UNet2DConditionModel(**unet_cfg)
        vae = AutoencoderKL(**vae_cfg)
        text = CLIPTextModel(CLIPTextConfig(hidden_size=768, intermediate_size=3072, num_attention_heads=12,
                                            num_hidden_layers=12, projection_dim=768))
    lines = []
    for module, table, prefix in ((unet, unet_prefix_table(unet.config), UNET_PREFIX),
                                  (vae, vae_prefix_table(vae.config), VAE_PREFIX)):
        state = module.state_dict()
        converted = convert(state, table, prefix)
        for (key, tensor), (stored, stored_tensor) in zip(state.items(), converted.items()):
            lines.append(f"{key} {prefix}{stored} {','.join(str(d) for d in stored_tensor.shape)}")
    for key, tensor in text.state_dict().items():
        if key.endswith("position_ids"):
            continue
        lines.append(f"{key} {TEXT_PREFIX_NEW}{key} {','.join(str(d) for d in tensor.shape)}")
    path = os.path.join(VARIANTS, "sd15-names.txt")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote variants/sd15-names.txt: {len(lines)} names, {os.path.getsize(path)} bytes")


def main():
    # sd-tiny-a's file generates in the CLI tests (its whole token table); sd-tiny-b's is
    # only compared with its folder, so it keeps VOCAB_VARIANT rows (3 MB less to carry).
    for cfg_name, vocab in (("sd-tiny-a", None), ("sd-tiny-b", VOCAB_VARIANT)):
        unet, vae, text, metadata = load_folder(cfg_name)
        state = {**prefixed(unet, UNET_PREFIX), **prefixed(vae, VAE_PREFIX), **text_keys(text, False, vocab),
                 **schedule_buffers()}
        if vocab is None:
            verify_with_diffusers(cfg_name, state)
        write_safetensors(os.path.join(TINY, f"{cfg_name}.safetensors"), state, {"format": "pt", **metadata})

    shutil.rmtree(VARIANTS, ignore_errors=True)
    os.makedirs(VARIANTS)
    unet, vae, text, metadata = load_folder("sd-tiny-a")
    meta = {"format": "pt", **metadata}
    v = os.path.join

    # Good layouts. Each holds the submodels its question needs (see the module comment).
    # 1. transformers < 4.22 saved CLIPTextModel without the text_model level.
    write_safetensors(v(VARIANTS, "old-text-keys.safetensors"), text_keys(text, True, VOCAB_VARIANT), meta)
    # 2. a .ckpt: torch zip pickle, everything under "state_dict", EMA copies (flattened
    #    names, as LitEma stores them) and training bookkeeping next to it.
    state = {**prefixed(unet, UNET_PREFIX), **text_keys(text, False, VOCAB_VARIANT), **schedule_buffers()}
    ema = {"model_ema.decay": torch.tensor(0.9999), "model_ema.num_updates": torch.tensor(470000, dtype=torch.int32)}
    for key in list(unet)[:12]:
        ema["model_ema.diffusion_model" + key.replace(".", "")] = unet[key].clone()
    torch.save({"epoch": 6, "global_step": 470000, "pytorch-lightning_version": "1.4.2",
                "state_dict": {**state, **ema}}, v(VARIANTS, "ema.ckpt"))
    print(f"wrote variants/ema.ckpt: {len(state)} + {len(ema)} EMA tensors, {os.path.getsize(v(VARIANTS, 'ema.ckpt'))} bytes")
    # 3. f32 (VAE + text encoder) and 4. bf16 (UNet + text encoder).
    write_safetensors(v(VARIANTS, "f32.safetensors"),
                      cast({**prefixed(vae, VAE_PREFIX), **text_keys(text, False, VOCAB_VARIANT)}, torch.float32), meta)
    write_safetensors(v(VARIANTS, "bf16.safetensors"),
                      cast({**prefixed(unet, UNET_PREFIX), **text_keys(text, False, VOCAB_VARIANT)}, torch.bfloat16), meta)
    # 5. an extra top-level prefix (as DataParallel fine-tunes save): module.* (VAE + text encoder).
    write_safetensors(v(VARIANTS, "module-prefix.safetensors"),
                      prefixed({**prefixed(vae, VAE_PREFIX), **text_keys(text, False, VOCAB_VARIANT)}, "module."), meta)

    # Bad files: the loader must refuse them with a message that names the problem.
    small = lambda *shape: torch.zeros(shape, dtype=torch.float16)
    write_safetensors(v(VARIANTS, "bad-sdxl.safetensors"), {
        "conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight": small(16, 8),
        "conditioner.embedders.1.model.token_embedding.weight": small(16, 8),
        "model.diffusion_model.label_emb.0.0.weight": small(8, 8),
        "model.diffusion_model.input_blocks.0.0.weight": small(8, 4, 3, 3),
        "first_stage_model.decoder.conv_in.weight": small(8, 4, 3, 3)}, {"format": "pt"})
    write_safetensors(v(VARIANTS, "bad-sd2.safetensors"), {
        "cond_stage_model.model.token_embedding.weight": small(16, 8),
        "cond_stage_model.model.transformer.resblocks.0.attn.in_proj_weight": small(24, 8),
        "model.diffusion_model.input_blocks.0.0.weight": small(8, 4, 3, 3),
        "first_stage_model.decoder.conv_in.weight": small(8, 4, 3, 3)}, {"format": "pt"})
    wrong = text_keys(text, False, VOCAB_VARIANT)
    fc1 = TEXT_PREFIX_NEW + "text_model.encoder.layers.1.mlp.fc1.weight"
    wrong[fc1] = wrong[fc1][:-1].clone()  # (36, 32) instead of (37, 32)
    write_safetensors(v(VARIANTS, "bad-wrong-shape.safetensors"), wrong, meta)
    with open(v(VARIANTS, "old-text-keys.safetensors"), "rb") as f:
        data = f.read()
    with open(v(VARIANTS, "bad-truncated.safetensors"), "wb") as f:
        f.write(data[: len(data) // 2])
    print(f"wrote variants/bad-truncated.safetensors: {len(data) // 2} of {len(data)} bytes")
    # A diffusers-folder file in the old style: sd-tiny-b's VAE as a .bin pickle with the
    # attention names of diffusers < 0.14 (query/key/value/proj_attn), as SD 1.4-era folders have.
    legacy = {}
    renames = {"to_q.": "query.", "to_k.": "key.", "to_v.": "value.", "to_out.0.": "proj_attn."}
    for key, tensor in load_file(os.path.join(TINY, "sd-tiny-b", "vae", "diffusion_pytorch_model.safetensors")).items():
        for new_name, old_name in renames.items():
            if ".mid_block.attentions.0." + new_name in key:
                key = key.replace(".mid_block.attentions.0." + new_name, ".mid_block.attentions.0." + old_name)
        legacy[key] = tensor
    torch.save(legacy, v(VARIANTS, "sd-tiny-b-vae-legacy.bin"))
    print(f"wrote variants/sd-tiny-b-vae-legacy.bin: {len(legacy)} tensors, "
          f"{os.path.getsize(v(VARIANTS, 'sd-tiny-b-vae-legacy.bin'))} bytes")
    write_sd15_names()
    total = sum(os.path.getsize(v(VARIANTS, n)) for n in os.listdir(VARIANTS))
    print(f"variants total {total} bytes")


if __name__ == "__main__":
    main()
