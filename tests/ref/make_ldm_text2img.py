#!/usr/bin/env python3
"""make_ldm_text2img.py: a tiny random LDM text2img model (the model family of
rinongal/textual_inversion: BERT text encoder + SD 1.x-style UNet + KL-f8 VAE), written
in the original checkpoint layout, and the goldens the C engine is checked against.

The text encoder is diffusers' LDMBertModel (the maths of the x-transformers encoder
the reference vendors: pre-norm, 64-wide heads, q/k/v without bias, erf GELU, learned
positions, final LayerNorm, no mask, not causal). Its weights are stored under the
x-transformers names of ldm.modules.encoders.modules.BERTEmbedder by our own key map
(LDMBERT_TO_XTRANSFORMERS below), and that map is checked against diffusers'
convert_ldm_bert_checkpoint: a module tree with the x-transformers names is filled
from the file's tensors and converted back, and must give LDMBertModel's tensors.

Writes tests/golden/ldm/:
  ldm-tiny.ckpt          {"state_dict": ...}: cond_stage_model.transformer.* (BERT: 2 layers,
                         48 wide, 2 heads of 64, feed-forward 192), model.diffusion_model.* (UNet,
                         context width 48, 8 heads as LDM's), first_stage_model.* (VAE, f2),
                         DDPM buffers; f16 weights; zip
                         members deflated (the token table is zero but for the rows the
                         goldens use, so the file stays small)
  text_encoder.safetensors  ids (BertTokenizerFast, 77 with [PAD] = 0) and
                         last_hidden_state of PROMPTS, in f32
  <sampler>_<n>.safetensors  LDMTextToImagePipeline runs (DDIM with eta, PLMS), as
                         make_generation_golden.py writes them; DDIM's eta noise is drawn from
                         the pipeline's generator, as StableDiffusionPipeline draws it
  cases.json             the generation cases
  learn_step.safetensors one textual-inversion step as the reference's main.py takes it on
                         this model (LatentDiffusion.p_losses with l_simple_weight 1, logvar 0,
                         no ELBO term: the mean squared error of the predicted noise; the
                         EmbeddingManager puts the learned vector where the placeholder's
                         WordPiece id stands, before the positions are added): ids, x0 (the
                         VAE posterior mean x 0.18215), noise, timesteps, loss, and the
                         gradient of the placeholder's vector, initialised from the init
                         word's token row

Run from the repository root: python tests/ref/make_ldm_text2img.py
"""
import functools
import gzip
import io
import json
import os
import sys
import tempfile
import zipfile

import torch
from diffusers import AutoencoderKL, DDIMScheduler, PNDMScheduler, UNet2DConditionModel
from diffusers.pipelines.latent_diffusion.pipeline_latent_diffusion import (LDMBertConfig, LDMBertModel,
                                                                            LDMTextToImagePipeline)
from safetensors.torch import save_file
from transformers import BertTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_single_file as single  # noqa: E402
import make_tiny_models as tiny  # noqa: E402

ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(ROOT, "tests", "golden", "ldm")
VOCAB_GZ = os.path.join(ROOT, "resources", "bert", "vocab.txt.gz")

BERT = dict(vocab_size=30522, max_position_embeddings=77, encoder_layers=2, encoder_ffn_dim=192,
            encoder_attention_heads=2, head_dim=64, d_model=48, activation_function="gelu")
UNET = dict(sample_size=8, in_channels=4, out_channels=4, block_out_channels=(32, 32),
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            layers_per_block=1, attention_head_dim=8, cross_attention_dim=48, norm_num_groups=32)
# LDM's autoencoder is KL-f8 with 32 groups (what a .ckpt without metadata gets); this one is f2 to stay small.
# LDMTextToImagePipeline sizes the latents as height // 8 whatever the VAE, so it is asked for 8x the latent
# size and returns 2x: the case's width/height are the images' (what ow_generate is given).
VAE = dict(in_channels=3, out_channels=3, block_out_channels=(32, 32), down_block_types=("DownEncoderBlock2D",) * 2,
           up_block_types=("UpDecoderBlock2D",) * 2, layers_per_block=1, latent_channels=4, norm_num_groups=32,
           sample_size=16)
VAE_FACTOR = 2
PROMPTS = ["a painting of a squirrel eating a burger", "", "a photo of *", "A sculpture of a cat, in the snow!",
           "an oil painting of a lighthouse at night"]
EXTRA_WORDS = ["sculpture", "cat", "dog", "toy", "painting", "*", "photo", "of", "a", "the", "rendering", "style"]
CASES = [
    dict(sampler="ddim", eta=0.0, steps=10, scale=5.0, seed=42, n=1, prompt="a painting of a squirrel eating a burger"),
    dict(sampler="ddim", eta=0.5, steps=8, scale=5.0, seed=7, n=2, prompt="a sculpture of a cat, in the snow!"),
    dict(sampler="plms", eta=0.0, steps=10, scale=6.0, seed=3, n=1, prompt="an oil painting of a lighthouse at night"),
]


def ldmbert_to_xtransformers(key, layers):
    """diffusers LDMBertModel name -> the name x-transformers' TransformerWrapper (BERTEmbedder.transformer) uses."""
    fixed = {"model.embed_tokens.weight": "token_emb.weight", "model.embed_positions.weight": "pos_emb.emb.weight",
             "model.layer_norm.weight": "norm.weight", "model.layer_norm.bias": "norm.bias",
             "to_logits.weight": "to_logits.weight", "to_logits.bias": "to_logits.bias"}
    if key in fixed:
        return fixed[key]
    parts = key.split(".")
    assert parts[:2] == ["model", "layers"], key
    layer, rest = int(parts[2]), ".".join(parts[3:])
    table = {"self_attn_layer_norm.": (0, "0."), "self_attn.q_proj.": (0, "1.to_q."), "self_attn.k_proj.": (0, "1.to_k."),
             "self_attn.v_proj.": (0, "1.to_v."), "self_attn.out_proj.": (0, "1.to_out."),
             "final_layer_norm.": (1, "0."), "fc1.": (1, "1.net.0.0."), "fc2.": (1, "1.net.2.")}
    for prefix, (sub, to) in table.items():
        if rest.startswith(prefix):
            return f"attn_layers.layers.{2 * layer + sub}.{to}{rest[len(prefix):]}"
    raise KeyError(key)


def xtransformers_tree(state, cfg):
    """A module tree with x-transformers' names and structure (what BERTEmbedder.transformer holds)."""
    nn = torch.nn
    d, a, f, layers = cfg["d_model"], cfg["head_dim"] * cfg["encoder_attention_heads"], cfg["encoder_ffn_dim"], cfg["encoder_layers"]

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.to_q, self.to_k, self.to_v = (nn.Linear(d, a, bias=False) for _ in range(3))
            self.to_out = nn.Linear(a, d)

    class FeedForward(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = nn.Sequential(nn.Sequential(nn.Linear(d, f), nn.GELU()), nn.Dropout(0.0), nn.Linear(f, d))

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList()
            for _ in range(layers):
                self.layers.append(nn.ModuleList([nn.LayerNorm(d), Attention(), nn.Identity()]))
                self.layers.append(nn.ModuleList([nn.LayerNorm(d), FeedForward(), nn.Identity()]))

    class AbsolutePositionalEmbedding(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(cfg["max_position_embeddings"], d)

    class TransformerWrapper(nn.Module):
        def __init__(self):
            super().__init__()
            self.token_emb = nn.Embedding(cfg["vocab_size"], d)
            self.pos_emb = AbsolutePositionalEmbedding()
            self.attn_layers = Encoder()
            self.norm = nn.LayerNorm(d)
            self.to_logits = nn.Linear(d, cfg["vocab_size"])

    class BERTEmbedder(nn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = TransformerWrapper()

    tree = BERTEmbedder()
    tree.transformer.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    return tree


def tokenizer(tmp):
    vocab = os.path.join(tmp, "vocab.txt")
    with open(vocab, "wb") as f:
        f.write(gzip.open(VOCAB_GZ).read())
    return BertTokenizerFast(vocab_file=vocab, do_lower_case=True)


def deflated_torch_save(obj, path):
    """torch.save, then the zip members deflated (torch.load reads both) with fixed dates."""
    raw = io.BytesIO()
    torch.save(obj, raw)
    src = zipfile.ZipFile(io.BytesIO(raw.getvalue()))
    with zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            out = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            out.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(out, src.read(info.filename), compresslevel=9)


LEARN_CAPTIONS = ["a photo of a *", "a rendering of the *"]  # the reference's templates, its default "*"
LEARN_INIT, LEARN_TIMESTEPS = "sculpture", [93, 761]


def learn_step_golden(bert, unet, vae, tok, path):
    placeholder = tok("*", add_special_tokens=False).input_ids
    init = tok(LEARN_INIT, add_special_tokens=False).input_ids
    assert len(placeholder) == 1 and len(init) == 1  # the reference asserts one WordPiece each
    table = bert.model.embed_tokens.weight.detach()
    row = table[init[0]].clone().requires_grad_(True)
    ids = tok(LEARN_CAPTIONS, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    g = torch.Generator().manual_seed(77)
    images = torch.nn.functional.interpolate(torch.rand(2, 3, 4, 4, generator=g) * 2 - 1, size=(16, 16), mode="bilinear",
                                             align_corners=False)
    with torch.no_grad():
        x0 = vae.encode(images).latent_dist.mean * 0.18215
    noise = torch.randn(x0.shape, generator=g)
    t = torch.tensor(LEARN_TIMESTEPS)
    scheduler = DDIMScheduler.from_config(dict(tiny.SCHEDULER))  # the DDPM training schedule's alphas_cumprod
    noisy = scheduler.add_noise(x0, noise, t)
    embeds = bert.model.embed_tokens(ids).detach()
    mask = (ids == placeholder[0]).unsqueeze(-1)
    embeds = torch.where(mask, row.expand_as(embeds), embeds)
    context = bert(inputs_embeds=embeds)[0]
    for p in list(unet.parameters()) + list(bert.parameters()):
        p.requires_grad_(False)
    loss = torch.nn.functional.mse_loss(unet(noisy, t, context).sample, noise)
    loss.backward()
    save_file({"ids": ids.to(torch.int32).contiguous(), "x0": x0.contiguous(), "noise": noise.contiguous(),
               "timesteps": t.to(torch.int32), "loss": loss.detach().reshape(1), "grad": row.grad.contiguous(),
               "init_row": table[init[0]].clone().contiguous()}, path,
              metadata={"captions": json.dumps(LEARN_CAPTIONS), "init_word": LEARN_INIT, "placeholder": "*",
                        "placeholder_id": str(placeholder[0])})
    print(f"wrote {os.path.basename(path)}: loss {loss.item():.6f}, |grad| {row.grad.norm().item():.3e}")


def main():
    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        tok = tokenizer(tmp)
    used = set([0, 100, 101, 102])
    for text in PROMPTS + [c["prompt"] for c in CASES] + EXTRA_WORDS:
        used.update(tok(text).input_ids)

    bert = LDMBertModel(LDMBertConfig(**BERT)).eval()
    tiny.randomise(bert, 19)
    with torch.no_grad():
        unused = torch.ones(BERT["vocab_size"], dtype=torch.bool)
        unused[sorted(used)] = False
        bert.model.embed_tokens.weight[unused] = 0.0  # rows no golden reads are zero: the file stays small
        bert.to_logits.weight.zero_()
        bert.to_logits.bias.zero_()
    unet = UNet2DConditionModel(**UNET).eval()
    tiny.randomise(unet, 20)
    vae = AutoencoderKL(**VAE).eval()
    tiny.randomise(vae, 21)

    # The original layout, by our key map; checked against diffusers' converter.
    text = {ldmbert_to_xtransformers(k, BERT["encoder_layers"]): v.half() for k, v in bert.state_dict().items()}
    from diffusers.pipelines.stable_diffusion.convert_from_ckpt import convert_ldm_bert_checkpoint
    back = convert_ldm_bert_checkpoint(xtransformers_tree(text, BERT), LDMBertConfig(**BERT)).state_dict()
    want = bert.state_dict()
    assert sorted(back) == sorted(want), sorted(set(back) ^ set(want))[:5]
    for k in want:
        assert torch.equal(back[k], want[k]), k
    print(f"checked: diffusers' convert_ldm_bert_checkpoint gives back all {len(want)} LDMBertModel tensors")

    unet_state = single.convert({k: v.half() for k, v in unet.state_dict().items()},
                                single.unet_prefix_table(json.loads(json.dumps(dict(unet.config)))), "unet")
    vae_state = single.convert({k: v.half() for k, v in vae.state_dict().items()},
                               single.vae_prefix_table(json.loads(json.dumps(dict(vae.config)))), "vae")
    state = {}
    state.update(single.prefixed(text, "cond_stage_model.transformer."))
    state.update(single.prefixed(unet_state, single.UNET_PREFIX))
    state.update(single.prefixed(vae_state, single.VAE_PREFIX))
    state.update(single.schedule_buffers())
    deflated_torch_save({"state_dict": state, "global_step": 470000}, os.path.join(OUT, "ldm-tiny.ckpt"))
    print(f"wrote ldm-tiny.ckpt: {len(state)} tensors, {os.path.getsize(os.path.join(OUT, 'ldm-tiny.ckpt'))} bytes")

    # Text encoder golden.
    ids = tok(PROMPTS, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
    with torch.no_grad():
        hidden = bert(ids)[0]
    save_file({"input_ids": ids.to(torch.int32).contiguous(), "last_hidden_state": hidden.contiguous()},
              os.path.join(OUT, "text_encoder.safetensors"), metadata={"prompts": json.dumps(PROMPTS)})

    # Generations, as LDMTextToImagePipeline runs them (SD 1.x's training schedule).
    config = dict(tiny.SCHEDULER)
    for case in CASES:
        scheduler = (DDIMScheduler if case["sampler"] == "ddim" else PNDMScheduler).from_config(config)
        pipe = LDMTextToImagePipeline(vqvae=vae, bert=bert, tokenizer=tok, unet=unet, scheduler=scheduler)
        pipe.set_progress_bar_config(disable=True)
        h = w = UNET["sample_size"]
        generator = torch.Generator("cpu").manual_seed(case["seed"])
        init = torch.randn((case["n"], 4, h, w), generator=generator)
        generator = torch.Generator("cpu").manual_seed(case["seed"])
        # LDMTextToImagePipeline gives the scheduler only eta, so DDIM's eta noise would come from torch's
        # global generator, which no seed reaches; it gets the pipeline's generator here, as
        # StableDiffusionPipeline passes it (what oneword does for every model: one generator per seed).
        if case["sampler"] == "ddim":
            scheduler.step = functools.partial(scheduler.step, generator=generator)  # keeps its eta parameter
        with torch.no_grad():
            image = pipe([case["prompt"]] * case["n"], height=8 * h, width=8 * w, num_inference_steps=case["steps"],
                         guidance_scale=case["scale"], eta=case["eta"], generator=generator, output_type="np").images
        image = torch.from_numpy(image)  # (n, H, W, 3) in [0, 1]
        image_u8 = (image * 255).round().to(torch.uint8)
        assert image.shape[1] == VAE_FACTOR * h
        case.update(height=VAE_FACTOR * h, width=VAE_FACTOR * w, file=f"{case['sampler']}_eta{case['eta']}_n{case['n']}.safetensors")
        save_file({"init_latents": init, "image": image.permute(0, 3, 1, 2).contiguous(), "image_u8": image_u8.contiguous()},
                  os.path.join(OUT, case["file"]))
        print(f"wrote {case['file']}")
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(CASES, f, indent=2)
    learn_step_golden(bert, unet, vae, tok, os.path.join(OUT, "learn_step.safetensors"))


if __name__ == "__main__":
    main()
