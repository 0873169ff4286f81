"""train.py: trains resources/shapes, a tiny Stable Diffusion 1.x model of our own, on the
procedural shapes data set (dataset.py), on the CPU or, when there is one, a GPU.

Architecture and file layout are exactly SD 1.x (diffusers folder: CLIPTextModel with the
real 49408-token CLIP vocabulary, UNet2DConditionModel with cross-attention, AutoencoderKL,
PNDM scheduler config as SD 1.x ships it), only small:
  * VAE f = 4 (64x64 RGB <-> 4x16x16 latents), trained first with L1 + L2 + a small KL term;
  * text encoder (hidden 64) and UNet trained together from scratch with epsilon prediction
    on SD 1.x's scaled-linear 1000-step schedule, min-SNR-5 loss weighting, 10 % of captions
    dropped to "" (for classifier-free guidance), EMA weights saved.
Both phases run for a wall-clock budget and checkpoint the (EMA) weights every few minutes,
so a cut-short run still leaves a usable folder.

Run from the repository root (the data set and seeds are fixed, but budgets are wall-clock
minutes, so the number of steps, and with it the weights, depends on the machine's load).
The commands that made resources/shapes:
  python3 tests/ref/shapes/train.py --phase data            # cache the data set
  python3 tests/ref/shapes/train.py --phase vae --minutes 6
  python3 tests/ref/shapes/train.py --phase vae --minutes 9 --resume
  python3 tests/ref/shapes/train.py --phase unet --minutes 44
  python3 tests/ref/shapes/train.py --phase unet --minutes 11 --resume --lr 2e-4
  # session 2 (the encoder kept, so the cached latents stay valid):
  python3 tests/ref/shapes/train.py --phase decoder --minutes 25 --lr 5e-4
  python3 tests/ref/shapes/train.py --phase unet --resume --start resources/shapes \
      --out /tmp/shapes-run1 --minutes 110 --lr 5e-4 --save-every 10   # 2 threads after 48 min
  python3 tests/ref/shapes/train.py --phase unet --resume --start /tmp/shapes-run1 \
      --out /tmp/shapes-run1b --minutes 20 --lr 1.5e-4 --threads 2
  then resources/shapes = /tmp/shapes-run1b (its vae/ is <work>/decoder)
  # session 3, on a lent H100 (two device calls, 10 minutes of training in all):
  tests/ref/shapes/train-on-device.sh $OUT 490 16     # data: 16 x 6000 new images; A, B, D for 6.8 min
  then, on the same machine, 3.1 more minutes of each from where it stopped:
  train.py --phase unet --resume --latent-count 0 --start <A> --out <A> --batch 512 --lr 3e-4
  train.py --phase unet --resume --latent-count 0 --start <B> --out <B> --batch 256 --lr 1.5e-4
  train.py --phase decoder --resume --batch 256 --lr 2e-4
  then resources/shapes = A's text encoder and UNet + D's decoder (see the model card)
  python3 tests/ref/shapes/train.py --phase measure          # steps/s of each part
Work files go to --work (default /tmp/shapes-train); the model folder to --out.
"""
import argparse
import copy
import json
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dataset  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))

TEXT = dict(vocab_size=49408, hidden_size=64, intermediate_size=128, num_attention_heads=2,
            num_hidden_layers=2, max_position_embeddings=77, hidden_act="quick_gelu",
            layer_norm_eps=1e-5, bos_token_id=49406, eos_token_id=49407, pad_token_id=1,
            projection_dim=64)
UNET = dict(sample_size=16, in_channels=4, out_channels=4, block_out_channels=(32, 64, 64),
            down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
            layers_per_block=1, attention_head_dim=4, cross_attention_dim=64, norm_num_groups=8)
VAE = dict(in_channels=3, out_channels=3, block_out_channels=(16, 32, 32),
           down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
           layers_per_block=1, latent_channels=4, norm_num_groups=8, sample_size=64)
SCHEDULER = {"_class_name": "PNDMScheduler", "_diffusers_version": "0.6.0", "beta_end": 0.012,
             "beta_schedule": "scaled_linear", "beta_start": 0.00085, "num_train_timesteps": 1000,
             "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
             "trained_betas": None, "clip_sample": False}
MODEL_INDEX = {"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.31.0",
               "text_encoder": ["transformers", "CLIPTextModel"],
               "tokenizer": ["transformers", "CLIPTokenizer"],
               "unet": ["diffusers", "UNet2DConditionModel"],
               "vae": ["diffusers", "AutoencoderKL"],
               "scheduler": ["diffusers", "PNDMScheduler"],
               "safety_checker": [None, None], "feature_extractor": [None, None],
               "requires_safety_checker": False}

DATA_SEED = 20240601
DATA_COUNT = 24000
LATENT_COUNT = 12000  # the UNet trains on the first 12000 (encoding is slow on a shared CPU)


def log(work, msg):
    line = time.strftime("%H:%M:%S ") + msg
    print(line, flush=True)
    with open(os.path.join(work, "train.log"), "a") as f:
        f.write(line + "\n")


def lend_threads(args):
    """A long run can be given more (or fewer) cores while it runs: write a number to <work>/threads."""
    try:
        with open(os.path.join(args.work, "threads")) as f:
            n = int(f.read())
    except (OSError, ValueError):
        return
    if n > 0 and n != torch.get_num_threads():
        torch.set_num_threads(n)
        log(args.work, f"now {n} threads")


def tokenizer():
    """CLIP's tokenizer (the fast one: it gives the same ids as the slow one on this grammar, 30x sooner)."""
    sys.path.insert(0, os.path.join(REPO, "tests", "ref"))
    from make_generation_golden import clip_tokenizer
    from transformers import CLIPTokenizerFast
    folder = "/tmp/shapes-tokenizer"
    os.makedirs(folder, exist_ok=True)
    clip_tokenizer(folder)
    return CLIPTokenizerFast(os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt"),
                             model_max_length=77)


def generate_chunk(task):
    seed, count = task
    items = dataset.generate(seed, count)
    return np.stack([im for im, _, _ in items]), [c for _, c, _ in items]


def phase_data(args):
    """The data set: --count images from DATA_SEED (one stream; images 20000..23999 are held back
    for checking the VAE), then --extra-chunks more streams of --chunk images from seeds
    DATA_SEED + 1, + 2, ... drawn in parallel (more variety for a fast machine)."""
    import multiprocessing
    t0 = time.time()
    tasks = ([(DATA_SEED, args.count)] if args.count else []) + \
        [(DATA_SEED + 1 + k, args.chunk) for k in range(args.extra_chunks)]
    with multiprocessing.get_context("fork").Pool(min(len(tasks), os.cpu_count() or 1)) as pool:
        parts = pool.map(generate_chunk, tasks)
    images = np.concatenate([im for im, _ in parts])
    captions = [c for _, caps in parts for c in caps]
    ids = tokenizer()(captions + [""], padding="max_length", max_length=77, truncation=True,
                      return_tensors="np").input_ids
    np.savez(os.path.join(args.work, "data.npz"), images=images, ids=ids[:-1].astype(np.int64),
             empty=ids[-1].astype(np.int64), base_count=np.int64(args.count))
    with open(os.path.join(args.work, "captions.txt"), "w") as f:
        f.write("\n".join(captions) + "\n")
    log(args.work, f"data: {len(captions)} images, {len(set(captions))} distinct captions, {time.time() - t0:.0f} s")


HELD_BACK = (20000, DATA_COUNT)  # images of the DATA_SEED stream that no phase trains on


def load_data(work):
    """-> uint8 images (N, 64, 64, 3), token ids (N, 77), the empty caption's ids (77,),
    and the indices that training may use (all but the held-back ones)."""
    d = np.load(os.path.join(work, "data.npz"))
    base = int(d["base_count"]) if "base_count" in d else DATA_COUNT
    n = len(d["ids"])
    train = np.concatenate([np.arange(0, min(base, HELD_BACK[0])), np.arange(min(base, HELD_BACK[1]), n)])
    return torch.from_numpy(d["images"]), torch.from_numpy(d["ids"]), torch.from_numpy(d["empty"]), \
        torch.from_numpy(train)


def to_float(images):
    """uint8 (N, 64, 64, 3) -> float (N, 3, 64, 64) in [-1, 1], on the images' device."""
    return images.permute(0, 3, 1, 2).float() / 127.5 - 1.0


def save_weights(module, folder, half):
    """A copy on the CPU (f16 when half), so training goes on with the module as it is."""
    m = copy.deepcopy(module).cpu()
    (m.half() if half else m).save_pretrained(folder, safe_serialization=True)


def phase_vae(args):
    from diffusers import AutoencoderKL
    images, _, _, _ = load_data(args.work)
    images = to_float(images[:4512])
    torch.manual_seed(1)
    vae = AutoencoderKL(**VAE).train()
    if args.resume:  # continue a previous run's weights (f16 on disk)
        vae = AutoencoderKL.from_pretrained(os.path.join(args.work, "vae")).float().train()
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-3, weight_decay=0.0)
    g = torch.Generator().manual_seed(2)
    t0, last_save, step = time.time(), time.time(), 0
    budget = args.minutes * 60
    ema = None
    while time.time() - t0 < budget:
        frac = (time.time() - t0) / budget
        for group in opt.param_groups:
            group["lr"] = 1e-3 * min(1.0, (step + 1) / 50) * (0.2 if frac > 0.85 else 1.0)
        idx = torch.randint(0, 4000, (args.batch,), generator=g)
        x = images[idx]
        if args.crop < 64:  # random crops: the VAE is fully convolutional
            oy, ox = [int(v) // 4 * 4 for v in torch.randint(0, 64 - args.crop + 1, (2,), generator=g)]
            x = x[:, :, oy:oy + args.crop, ox:ox + args.crop]
        post = vae.encode(x).latent_dist
        z = post.mean + post.std * torch.randn(post.mean.shape, generator=g)
        y = vae.decode(z).sample
        kl = 0.5 * (post.mean ** 2 + post.var - 1.0 - post.logvar).mean()
        rec = (y - x).abs().mean() + ((y - x) ** 2).mean()
        loss = rec + 1e-4 * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ema = rec.item() if ema is None else 0.98 * ema + 0.02 * rec.item()
        step += 1
        if step % 20 == 0:
            log(args.work, f"vae step {step} rec {ema:.4f} kl {kl.item():.3f} {step / (time.time() - t0):.2f} it/s")
        if time.time() - last_save > 180:
            save_weights(vae, os.path.join(args.work, "vae"), half=True)
            last_save = time.time()
    vae.eval()
    with torch.no_grad():  # latent std -> scaling_factor (as SD's 0.18215)
        z = torch.cat([vae.encode(images[i:i + 128]).latent_dist.mean for i in range(4000, 4512, 128)])
        x = images[4000:4512]
        y = torch.cat([vae.decode(z[i:i + 128]).sample for i in range(0, 512, 128)])
    vae.register_to_config(scaling_factor=float(round(1.0 / z.std().item(), 5)))
    save_weights(vae, os.path.join(args.work, "vae"), half=True)
    log(args.work, f"vae done: {step} steps, held-out L1 {(y - x).abs().mean().item() * 127.5:.2f}/255, "
        f"max {(y - x).abs().max().item() * 127.5:.0f}/255, latent std {z.std().item():.3f} mean {z.mean().item():.3f}")


def phase_decoder(args):
    """Sharpens the VAE's decoder with the encoder frozen: the latent space (and so the UNet's
    training data) stays as it is, only the pixels made from it improve."""
    from diffusers import AutoencoderKL
    dev = args.device
    images, _, _, train = load_data(args.work)
    images, train = images.to(dev), train.to(dev)
    src = os.path.join(args.work, "decoder" if args.resume else "vae")
    vae = AutoencoderKL.from_pretrained(src).float().to(dev)
    vae.encoder.requires_grad_(False)
    vae.quant_conv.requires_grad_(False)
    params = list(vae.decoder.parameters()) + list(vae.post_quant_conv.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    g = torch.Generator(dev).manual_seed(6 if args.resume else 7)
    t0, last_save, step, avg = time.time(), time.time(), 0, None
    budget = args.minutes * 60
    while time.time() - t0 < budget:
        frac = (time.time() - t0) / budget
        for group in opt.param_groups:
            group["lr"] = args.lr * min(1.0, (step + 1) / 50) * (0.5 * (1 + math.cos(math.pi * frac)) * 0.95 + 0.05)
        x = to_float(images[train[torch.randint(0, len(train), (args.batch,), generator=g, device=dev)]])
        with torch.no_grad():
            post = vae.encode(x).latent_dist
            z = post.mean + post.std * torch.randn(post.mean.shape, generator=g, device=dev)
        y = vae.decode(z).sample
        loss = (y - x).abs().mean() + ((y - x) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        avg = loss.detach() if avg is None else 0.98 * avg + 0.02 * loss.detach()  # no sync per step
        if step % 20 == 0:
            log(args.work, f"decoder step {step} rec {avg.item():.4f} {step / (time.time() - t0):.2f} it/s")
        if time.time() - last_save > args.save_every * 60:
            save_weights(vae, os.path.join(args.work, "decoder"), half=False)
            last_save = time.time()
    avg = float(avg)
    save_weights(vae, os.path.join(args.work, "decoder"), half=False)
    log(args.work, f"decoder done: {step} steps, rec {avg:.4f}")


def encode_latents(work, images, path, dev):
    """Latent means x scaling factor of uint8 images, with the VAE's (frozen) encoder; cached at path."""
    from diffusers import AutoencoderKL
    vae = AutoencoderKL.from_pretrained(os.path.join(work, "vae")).float().eval().to(dev)
    out = []
    with torch.no_grad():
        for i in range(0, len(images), 256):
            x = to_float(images[i:i + 256].to(dev))
            out.append((vae.encode(x).latent_dist.mean * vae.config.scaling_factor).cpu())
    lat = torch.cat(out)
    torch.save(lat, path)
    log(work, f"latents: {tuple(lat.shape)}, std {lat.std().item():.3f}")
    return lat


def write_folder(out, text, unet, work):
    from diffusers import AutoencoderKL
    os.makedirs(out, exist_ok=True)
    save_weights(text, os.path.join(out, "text_encoder"), half=True)
    save_weights(unet, os.path.join(out, "unet"), half=True)
    decoder = os.path.join(work, "decoder")  # the sharpened decoder (--phase decoder), when there is one
    vae = AutoencoderKL.from_pretrained(decoder if os.path.isdir(decoder) else os.path.join(work, "vae"))
    vae.save_pretrained(os.path.join(out, "vae"), safe_serialization=True)
    os.makedirs(os.path.join(out, "scheduler"), exist_ok=True)
    with open(os.path.join(out, "scheduler", "scheduler_config.json"), "w") as f:
        json.dump(SCHEDULER, f, indent=2)
    with open(os.path.join(out, "model_index.json"), "w") as f:
        json.dump(MODEL_INDEX, f, indent=2)


def phase_unet(args):
    from transformers import CLIPTextConfig, CLIPTextModel
    from diffusers import DDPMScheduler, UNet2DConditionModel
    dev = args.device
    images, ids, empty, train = load_data(args.work)
    if args.latent_count:  # the first N images (sessions 1 and 2 trained on the first 12000)
        train = train[:args.latent_count]
    lat_path = os.path.join(args.work, "latents.pt" if args.latent_count == LATENT_COUNT else
                            f"latents-{args.latent_count or 'all'}.pt")
    lat = torch.load(lat_path) if os.path.exists(lat_path) else encode_latents(args.work, images[train], lat_path, dev)
    del images
    lat, ids, empty = lat.to(dev), ids[train].to(dev), empty.to(dev)
    torch.manual_seed(3)
    text = CLIPTextModel(CLIPTextConfig(**TEXT)).train()
    unet = UNet2DConditionModel(**UNET).train()
    if args.resume:  # continue from the (EMA) weights of a previous run (--start, default --out), fresh optimiser
        start = args.start or args.out
        text = CLIPTextModel.from_pretrained(os.path.join(start, "text_encoder")).float().train()
        unet = UNet2DConditionModel.from_pretrained(os.path.join(start, "unet")).float().train()
    text, unet = text.to(dev), unet.to(dev)
    ema_text, ema_unet = copy.deepcopy(text).eval(), copy.deepcopy(unet).eval()
    params = list(text.parameters()) + list(unet.parameters())
    ema_params = list(ema_text.parameters()) + list(ema_unet.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01, **({"fused": True} if dev != "cpu" else {}))
    sched = DDPMScheduler(**{k: v for k, v in SCHEDULER.items() if not k.startswith("_") and k not in
                             ("skip_prk_steps", "set_alpha_to_one")})
    acp = sched.alphas_cumprod.to(dev)
    snr = acp / (1 - acp)
    weight = torch.clamp(snr, max=5.0) / snr  # min-SNR-5 for epsilon prediction
    g = torch.Generator(dev).manual_seed(5 if args.resume else 4)  # fresh batches when resuming
    t0, last_save, step, avg = time.time(), time.time(), 0, None
    budget = args.minutes * 60
    n = len(lat)
    log(args.work, f"unet: {sum(p.numel() for p in unet.parameters())} params, text "
        f"{sum(p.numel() for p in text.parameters())}, {n} latents")
    while time.time() - t0 < budget:
        frac = (time.time() - t0) / budget
        lr = args.lr * min(1.0, (step + 1) / 100) * (0.5 * (1 + math.cos(math.pi * min(1.0, frac))) * 0.9 + 0.1)
        for group in opt.param_groups:
            group["lr"] = lr
        idx = torch.randint(0, n, (args.batch,), generator=g, device=dev)
        x0 = lat[idx]
        drop = torch.rand(args.batch, generator=g, device=dev) < 0.1
        tok = torch.where(drop[:, None], empty[None, :], ids[idx])  # (no data-dependent shapes: no GPU sync)
        t = torch.randint(0, 1000, (args.batch,), generator=g, device=dev)
        noise = torch.randn(x0.shape, generator=g, device=dev)
        a = acp[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise  # = DDPMScheduler.add_noise
        ctx = text(tok).last_hidden_state
        pred = unet(xt, t, encoder_hidden_states=ctx).sample
        loss = (((pred - noise) ** 2).mean(dim=(1, 2, 3)) * weight[t]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            torch._foreach_lerp_(ema_params, [p.detach() for p in params], 1 - decay)
        avg = loss.detach() if avg is None else 0.98 * avg + 0.02 * loss.detach()  # no sync per step
        if step % 25 == 0:
            lend_threads(args)
            log(args.work, f"unet step {step} loss {avg.item():.4f} lr {lr:.2e} {step / (time.time() - t0):.2f} it/s "
                f"{(time.time() - t0) / 60:.1f} min")
        if time.time() - last_save > args.save_every * 60:
            write_folder(args.out, ema_text, ema_unet, args.work)
            write_folder(os.path.join(args.work, "raw"), text, unet, args.work)  # the weights without EMA
            log(args.work, f"checkpoint at step {step} -> {args.out}")
            last_save = time.time()
    avg = float(avg)
    write_folder(args.out, ema_text, ema_unet, args.work)
    with open(os.path.join(args.work, "unet_done%s.json" % ("_resumed" if args.resume else "")), "w") as f:
        json.dump({"steps": step, "minutes": (time.time() - t0) / 60, "loss": avg, "batch": args.batch,
                   "lr": args.lr, "latents": n, "device": dev}, f)
    log(args.work, f"unet done: {step} steps, loss {avg:.4f}, {(time.time() - t0) / 60:.1f} min -> {args.out}")


def phase_measure(args):
    from transformers import CLIPTextConfig, CLIPTextModel
    from diffusers import AutoencoderKL, UNet2DConditionModel
    text = CLIPTextModel(CLIPTextConfig(**TEXT))
    unet = UNet2DConditionModel(**UNET)
    vae = AutoencoderKL(**VAE)
    print("params text", sum(p.numel() for p in text.parameters()), "unet",
          sum(p.numel() for p in unet.parameters()), "vae", sum(p.numel() for p in vae.parameters()))
    opt = torch.optim.AdamW(list(text.parameters()) + list(unet.parameters()), lr=1e-4)
    for i in range(4):
        t = time.time()
        ctx = text(torch.randint(0, 49406, (args.batch, 77))).last_hidden_state
        out = unet(torch.randn(args.batch, 4, 16, 16), torch.randint(0, 1000, (args.batch,)), encoder_hidden_states=ctx).sample
        out.square().mean().backward()
        opt.step()
        opt.zero_grad()
        print(f"unet+text batch {args.batch}: {time.time() - t:.2f} s/step")
    opt = torch.optim.AdamW(vae.parameters(), lr=1e-4)
    for i in range(3):
        t = time.time()
        x = torch.randn(args.batch, 3, args.crop, args.crop)
        post = vae.encode(x).latent_dist
        vae.decode(post.mean).sample.square().mean().backward()
        opt.step()
        opt.zero_grad()
        print(f"vae batch {args.batch} crop {args.crop}: {time.time() - t:.2f} s/step")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--phase", required=True, choices=("data", "vae", "decoder", "unet", "measure"))
    ap.add_argument("--work", default="/tmp/shapes-train")
    ap.add_argument("--out", default=os.path.join(REPO, "resources", "shapes"))
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--crop", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--save-every", type=float, default=5.0)
    ap.add_argument("--start", help="unet --resume: the model folder to start from (default --out)")
    ap.add_argument("--resume", action="store_true",
                    help="vae: start from the weights in --work; unet: from the text encoder and UNet in --out")
    ap.add_argument("--threads", type=int, default=1)  # 1 beat 2 on the shared 2-core machine
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu",
                    help="unet, decoder: where to train (default: the GPU when there is one)")
    ap.add_argument("--ema", type=float, default=0.999, help="unet: EMA decay of the saved weights")
    ap.add_argument("--latent-count", type=int, default=LATENT_COUNT,
                    help="unet: train on the first N training images (0: all of them)")
    ap.add_argument("--count", type=int, default=DATA_COUNT, help="data: images from DATA_SEED")
    ap.add_argument("--extra-chunks", type=int, default=0, help="data: more streams, from seeds DATA_SEED + 1, ...")
    ap.add_argument("--chunk", type=int, default=6000, help="data: images per extra stream")
    args = ap.parse_args()
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    torch.set_num_threads(args.threads)
    os.makedirs(args.work, exist_ok=True)
    {"data": phase_data, "vae": phase_vae, "decoder": phase_decoder, "unet": phase_unet, "measure": phase_measure}[args.phase](args)


if __name__ == "__main__":
    main()
