#!/usr/bin/env python3
"""make_learn_step_golden.py: two textual-inversion steps on the tiny model
tests/golden/tiny/sd-tiny-b, done as the diffusers textual_inversion example
(examples/textual_inversion/textual_inversion.py, diffusers 0.31) does them, for
tests/train/test_learn_step.c. Writes tests/golden/train/learn_step.safetensors.

The example's step, reproduced here on the same model in f32:
  - the tokenizer gets the placeholder "*" as a new id (49408), the text encoder's
    token table grows by one row, initialised from the init word's row;
  - the UNet, the VAE and everything in the text encoder but the token table are frozen;
  - noisy = DDPMScheduler.add_noise(latents, noise, t); target = noise, or
    get_velocity(latents, noise, t) for v-prediction;
  - loss = F.mse_loss(unet(noisy, t, text_encoder(ids)[0]).sample, target, "mean");
  - torch.optim.AdamW(token table, lr, betas (0.9, 0.999), eps 1e-8, weight_decay
    1e-2); after each step every row but the placeholder's is put back.
The latents are the VAE encoder's posterior mean x scaling_factor (what the engine
caches; the example samples latent_dist, which only adds noise to the same step).

Per case ("eps": the model's own epsilon schedule; "v": the same with
prediction_type v_prediction), for steps k = 0, 1:
  <case>.ids        (2, B, 77) int32   the captions' ids
  <case>.x0         (2, B, 4, 8, 8)    latents
  <case>.noise      (2, B, 4, 8, 8)
  <case>.timesteps  (2, B) int32
  <case>.loss       (2)
  <case>.grad       (2, 32)            d loss / d (placeholder row), before step k's update
  <case>.row        (2, 32)            the placeholder row after step k's AdamW update
and init_row (32): the init word's row. Metadata: captions, init word, lr, versions.

Run from the repository root:  python3 tests/ref/make_learn_step_golden.py
Made with torch 2.15.0 (CPU), transformers 4.46.3, diffusers 0.31.0 (the pins in
requirements.txt except torch: its 2.5.1 CPU wheel index was not reachable; the
step is plain f32 arithmetic that any recent torch computes alike).
"""
import os
import sys
import tempfile

import torch
import torch.nn.functional as F
import diffusers
import transformers
from diffusers import AutoencoderKL, DDPMScheduler, UNet2DConditionModel
from transformers import CLIPTextModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tokenizer_golden import add_tokens_new_ids, build_tokenizer  # noqa: E402
from stable_safetensors import save_file  # noqa: E402

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
MODEL = os.path.join(ROOT, "tests", "golden", "tiny", "sd-tiny-b")
OUT = os.path.join(ROOT, "tests", "golden", "train", "learn_step.safetensors")
INIT_WORD = "square"
CAPTIONS = [["a photo of a *", "a rendering of a *"], ["the photo of a *", "a cropped photo of the *"]]
TIMESTEPS = [[17, 803], [421, 999]]
LR, WEIGHT_DECAY, SIZE = 1e-2, 1e-2, 32


def images(seed):
    """(2, 3, SIZE, SIZE) in [-1, 1]: smooth random pictures (low-frequency noise, upsampled)."""
    g = torch.Generator().manual_seed(seed)
    low = torch.rand(2, 3, 4, 4, generator=g) * 2 - 1
    return F.interpolate(low, size=(SIZE, SIZE), mode="bilinear", align_corners=False)


def run_case(prediction_type, tok, placeholder_id, init_id):
    text_encoder = CLIPTextModel.from_pretrained(os.path.join(MODEL, "text_encoder"), torch_dtype=torch.float32)
    unet = UNet2DConditionModel.from_pretrained(os.path.join(MODEL, "unet"), torch_dtype=torch.float32)
    vae = AutoencoderKL.from_pretrained(os.path.join(MODEL, "vae"), torch_dtype=torch.float32)
    scheduler = DDPMScheduler.from_pretrained(os.path.join(MODEL, "scheduler"), prediction_type=prediction_type)
    text_encoder.resize_token_embeddings(placeholder_id + 1)
    table = text_encoder.get_input_embeddings().weight
    with torch.no_grad():
        table[placeholder_id] = table[init_id].clone()
    orig = table.detach().clone()
    init_row = table[placeholder_id].detach().clone()
    vae.requires_grad_(False)
    unet.requires_grad_(False)
    text_encoder.text_model.encoder.requires_grad_(False)
    text_encoder.text_model.final_layer_norm.requires_grad_(False)
    text_encoder.text_model.embeddings.position_embedding.requires_grad_(False)
    optimizer = torch.optim.AdamW(text_encoder.get_input_embeddings().parameters(), lr=LR, betas=(0.9, 0.999),
                                  weight_decay=WEIGHT_DECAY, eps=1e-08)
    g = torch.Generator().manual_seed(1234)
    out = {k: [] for k in ("ids", "x0", "noise", "timesteps", "loss", "grad", "row")}
    for k in range(2):
        ids = torch.tensor([tok(c, padding="max_length", max_length=77, truncation=True).input_ids
                            for c in CAPTIONS[k]], dtype=torch.long)
        with torch.no_grad():
            x0 = vae.encode(images(100 + k)).latent_dist.mean * vae.config.scaling_factor
        noise = torch.randn(x0.shape, generator=g)
        t = torch.tensor(TIMESTEPS[k], dtype=torch.long)
        noisy = scheduler.add_noise(x0, noise, t)
        context = text_encoder(ids)[0]
        pred = unet(noisy, t, context).sample
        target = noise if prediction_type == "epsilon" else scheduler.get_velocity(x0, noise, t)
        loss = F.mse_loss(pred.float(), target.float(), reduction="mean")
        loss.backward()
        grad = table.grad[placeholder_id].detach().clone()
        optimizer.step()
        optimizer.zero_grad()
        keep = torch.ones(table.shape[0], dtype=torch.bool)
        keep[placeholder_id] = False
        with torch.no_grad():
            table[keep] = orig[keep]
        out["ids"].append(ids.to(torch.int32))
        out["x0"].append(x0)
        out["noise"].append(noise)
        out["timesteps"].append(t.to(torch.int32))
        out["loss"].append(loss.detach().reshape(1))
        out["grad"].append(grad)
        out["row"].append(table[placeholder_id].detach().clone())
        print(f"{prediction_type} step {k + 1}: loss {loss.item():.6f}, |grad| {grad.norm().item():.3e}")
    return init_row, {k: torch.cat(v) if k == "loss" else torch.stack(v) for k, v in out.items()}


def main():
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        tok, _ = build_tokenizer(tmp)
        placeholder_id, = add_tokens_new_ids(tok, ["*"])
        init = tok(INIT_WORD, add_special_tokens=False).input_ids
        assert len(init) == 1, f"init word {INIT_WORD!r} is {len(init)} tokens"
        tensors = {}
        for case, prediction_type in (("eps", "epsilon"), ("v", "v_prediction")):
            init_row, out = run_case(prediction_type, tok, placeholder_id, init[0])
            tensors["init_row"] = init_row
            for k, v in out.items():
                tensors[f"{case}.{k}"] = v.contiguous()
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    meta = {"init_word": INIT_WORD, "placeholder": "*", "lr": repr(LR), "weight_decay": repr(WEIGHT_DECAY),
            "captions": " | ".join(c for step in CAPTIONS for c in step),
            "versions": f"torch {torch.__version__}, transformers {transformers.__version__}, "
                        f"diffusers {diffusers.__version__}"}
    save_file(tensors, OUT, meta)
    print(f"wrote {OUT} ({os.path.getsize(OUT)} bytes)")


if __name__ == "__main__":
    main()
