"""make_sampling_golden.py: goldens for engine/sampling (torch noise, schedules, sampler steps).

Run from the repository root with the pinned packages (tests/ref/requirements.txt):
    python tests/ref/make_sampling_golden.py
Writes tests/golden/sampling/:
  rng.safetensors        torch.randn / torch.rand outputs from CPU generators: for each seed a
                         sequence of draws on one generator (metadata "ops", "seeds"), and two
                         successive (4,4,64,96) draws ("big_a", "big_b", seed in "big_seed").
  schedules.safetensors  alphas_cumprod per config, and per (config, sampler, steps) the timesteps,
                         sigmas and init_noise_sigma diffusers computes (configs as JSON in metadata).
  steps.safetensors      whole sampler runs: initial latents from a seeded generator scaled by
                         init_noise_sigma, a stand-in model whose output is torch.randn from a second
                         generator (seed + 1000), and per step the scaled UNet input and the new latents;
                         ancestral / DDIM-eta noise comes from the first generator, as in the pipeline.

    python tests/ref/make_sampling_golden.py --exhaustive /tmp/randn_exhaustive.f32
instead writes torch.randn outputs for every one of the 2^24 possible uniforms in both Box-Muller
inputs (128 MiB; not committed) by setting the generator state; check them with
    build/<dir>/tests/sampling/randn_exhaustive /tmp/randn_exhaustive.f32
Deterministic: everything is seeded.
"""
import json
import os
import struct
import sys

import numpy as np
import torch
from diffusers import (DDIMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,
                       EulerDiscreteScheduler, PNDMScheduler)
from diffusers.utils.torch_utils import randn_tensor

from stable_safetensors import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "sampling")

# ---- torch noise ---------------------------------------------------------------------------------

SEEDS = [0, 1, 42, 2**32 - 1, 2**32, 2**63 - 1, 2**64 - 1, -1, -2**63, 123456789012345]
# (op, numel): a (1,4,64,64) latent, then draws of every size class on the same generator: < 16
# elements (double Box-Muller with a cached second value), >= 16 but not a multiple of 16 (the last
# 16 recomputed), multiples of 16, and uniforms in between.
OPS = [("randn", 16384), ("randn", 3), ("randn", 17), ("randn", 1), ("rand", 5), ("randn", 16),
       ("randn", 1), ("randn", 8), ("rand", 1), ("randn", 15), ("randn", 33), ("randn", 1),
       ("randn", 2), ("randn", 100), ("rand", 17), ("randn", 1)]
BIG_SEED = 1234
BIG_SHAPE = (4, 4, 64, 96)


def rng_golden():
    tensors = {}
    for seed in SEEDS:
        g = torch.Generator("cpu").manual_seed(seed)
        parts = []
        for op, n in OPS:
            if op == "randn":
                parts.append(randn_tensor((n,), generator=g, dtype=torch.float32).flatten())
            else:
                parts.append(torch.rand((n,), generator=g, dtype=torch.float32))
        tensors[f"seq_{seed}"] = torch.cat(parts)
    g = torch.Generator("cpu").manual_seed(BIG_SEED)
    tensors["big_a"] = randn_tensor(BIG_SHAPE, generator=g, dtype=torch.float32).contiguous()
    tensors["big_b"] = randn_tensor(BIG_SHAPE, generator=g, dtype=torch.float32).contiguous()
    meta = {"ops": ",".join(f"{op}:{n}" for op, n in OPS), "seeds": ",".join(str(s) for s in SEEDS),
            "big_seed": str(BIG_SEED)}
    save_file(tensors, os.path.join(OUT, "rng.safetensors"), metadata=meta)
    count = sum(t.numel() for t in tensors.values())
    print(f"wrote rng.safetensors: {len(SEEDS)} seeds x {len(OPS)} draws, 2 x {BIG_SHAPE}; {count} values")


# ---- schedules and steps -------------------------------------------------------------------------

# What SD 1.x ships in scheduler/scheduler_config.json; CONFIGS override it.
SD1 = {"_class_name": "PNDMScheduler", "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085,
       "num_train_timesteps": 1000, "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
       "trained_betas": None, "clip_sample": False}
CONFIGS = {
    "sd1": {},
    "leading": {"timestep_spacing": "leading"},
    "linspace": {"timestep_spacing": "linspace"},
    "trailing": {"timestep_spacing": "trailing", "steps_offset": 0},
    "linear": {"beta_schedule": "linear", "beta_start": 0.0001, "beta_end": 0.02, "steps_offset": 0},
    "vpred": {"prediction_type": "v_prediction"},
    "clip": {"clip_sample": True, "clip_sample_range": 1.5, "set_alpha_to_one": True},
    "sigmamin": {"final_sigmas_type": "sigma_min"},
    # a file without the keys whose defaults differ between the classes (as a PNDMScheduler saved by a
    # current diffusers has no clip_sample): each class takes its own default for them
    "bare": {"clip_sample": None, "set_alpha_to_one": None, "steps_offset": None},
}
KINDS = ["ddim", "plms", "euler", "euler-a", "dpm++2m-karras"]
STEP_COUNTS = [1, 2, 7, 10, 25, 50]


def config_dict(name):
    cfg = dict(SD1)
    for key, value in CONFIGS[name].items():
        if value is None:
            del cfg[key]  # None: the key is left out of the file
        else:
            cfg[key] = value
    return cfg


def make_scheduler(kind, name):
    # As the pipelines do: the model's scheduler (PNDM) config, with its defaults, given to another class.
    base = PNDMScheduler.from_config(config_dict(name)).config
    if kind == "ddim":
        return DDIMScheduler.from_config(base)
    if kind == "plms":
        return PNDMScheduler.from_config(base)
    if kind == "euler":
        return EulerDiscreteScheduler.from_config(base)
    if kind == "euler-a":
        return EulerAncestralDiscreteScheduler.from_config(base)
    if kind == "dpm++2m-karras":
        return DPMSolverMultistepScheduler.from_config(base, algorithm_type="dpmsolver++", solver_order=2,
                                                       use_karras_sigmas=True)
    raise ValueError(kind)


def schedules_golden():
    tensors, meta = {}, {}
    count = 0
    for name in CONFIGS:
        meta[f"config/{name}"] = json.dumps(config_dict(name))
        tensors[f"{name}/alphas_cumprod"] = make_scheduler("ddim", name).alphas_cumprod.to(torch.float32)
        for kind in KINDS:
            for steps in STEP_COUNTS:
                s = make_scheduler(kind, name)
                s.set_timesteps(steps)
                key = f"{name}/{kind}/{steps}"
                tensors[key + "/timesteps"] = s.timesteps.to(torch.float32)
                if kind in ("euler", "euler-a", "dpm++2m-karras"):
                    tensors[key + "/sigmas"] = s.sigmas.to(torch.float32)
                tensors[key + "/init_noise_sigma"] = torch.tensor([float(s.init_noise_sigma)], dtype=torch.float32)
                count += 1
    meta["configs"] = ",".join(CONFIGS)
    meta["kinds"] = ",".join(KINDS)
    meta["steps"] = ",".join(str(s) for s in STEP_COUNTS)
    save_file(tensors, os.path.join(OUT, "schedules.safetensors"), metadata=meta)
    print(f"wrote schedules.safetensors: {len(CONFIGS)} configs x {len(KINDS)} samplers x {len(STEP_COUNTS)} step "
          f"counts ({count} schedules)")


# (name, config, sampler, steps, eta, seed, shape)
RUNS = [
    ("ddim10", "sd1", "ddim", 10, 0.0, 42, (2, 4, 8, 8)),
    ("ddim7_eta", "sd1", "ddim", 7, 0.7, 7, (1, 4, 5, 3)),
    ("ddim5_eta1_small", "sd1", "ddim", 5, 1.0, 3, (1, 1, 2, 3)),
    ("ddim7_trailing", "trailing", "ddim", 7, 0.0, 5, (1, 4, 4, 4)),
    ("ddim6_clip", "clip", "ddim", 6, 0.3, 9, (1, 4, 4, 4)),
    ("plms10", "sd1", "plms", 10, 0.0, 42, (2, 4, 8, 8)),
    ("plms1", "sd1", "plms", 1, 0.0, 1, (1, 4, 4, 4)),
    ("plms2", "sd1", "plms", 2, 0.0, 2, (1, 4, 4, 4)),
    ("euler10", "sd1", "euler", 10, 0.0, 3, (2, 4, 8, 8)),
    ("euler10_linspace", "linspace", "euler", 10, 0.0, 4, (1, 4, 5, 3)),
    ("euler10_leading", "leading", "euler", 10, 0.0, 14, (1, 4, 5, 3)),
    ("euler_a10_leading", "leading", "euler-a", 10, 0.0, 15, (1, 4, 5, 3)),
    ("euler7_trailing", "trailing", "euler", 7, 0.0, 16, (1, 4, 4, 4)),
    ("euler_a10", "sd1", "euler-a", 10, 0.0, 11, (2, 4, 8, 8)),
    ("euler_a7_odd", "sd1", "euler-a", 7, 0.0, 12, (1, 4, 5, 3)),
    ("euler_a4_small", "sd1", "euler-a", 4, 0.0, 13, (1, 1, 3, 3)),
    ("dpm10", "sd1", "dpm++2m-karras", 10, 0.0, 42, (2, 4, 8, 8)),
    ("dpm25", "sd1", "dpm++2m-karras", 25, 0.0, 6, (1, 4, 5, 3)),
    ("dpm20_sigmamin", "sigmamin", "dpm++2m-karras", 20, 0.0, 8, (1, 4, 4, 4)),
    ("dpm1", "sd1", "dpm++2m-karras", 1, 0.0, 10, (1, 4, 4, 4)),
    ("ddim6_v", "vpred", "ddim", 6, 0.0, 21, (1, 4, 5, 3)),
    ("plms6_v", "vpred", "plms", 6, 0.0, 22, (1, 4, 5, 3)),
    ("euler6_v", "vpred", "euler", 6, 0.0, 23, (1, 4, 5, 3)),
    ("euler_a6_v", "vpred", "euler-a", 6, 0.0, 24, (1, 4, 5, 3)),
    ("dpm6_v", "vpred", "dpm++2m-karras", 6, 0.0, 25, (1, 4, 5, 3)),
    ("ddim10_linear", "linear", "ddim", 10, 0.0, 26, (1, 4, 4, 4)),
    ("ddim8_bare", "bare", "ddim", 8, 0.0, 31, (1, 4, 5, 3)),
    ("plms6_bare", "bare", "plms", 6, 0.0, 32, (1, 4, 5, 3)),
    ("euler8_bare", "bare", "euler", 8, 0.0, 33, (1, 4, 5, 3)),
    ("dpm8_bare", "bare", "dpm++2m-karras", 8, 0.0, 34, (1, 4, 5, 3)),
]


def steps_golden():
    tensors, meta = {}, {}
    for name, config, kind, steps, eta, seed, shape in RUNS:
        s = make_scheduler(kind, config)
        s.set_timesteps(steps)
        g = torch.Generator("cpu").manual_seed(seed)
        model_g = torch.Generator("cpu").manual_seed(seed + 1000)
        x = randn_tensor(shape, generator=g, dtype=torch.float32) * s.init_noise_sigma
        inputs, outputs = [], []
        for t in s.timesteps:
            xin = s.scale_model_input(x, t)
            eps = torch.randn(shape, generator=model_g, dtype=torch.float32)
            if kind == "ddim":
                x = s.step(eps, t, x, eta=eta, generator=g).prev_sample
            elif kind == "euler-a":
                x = s.step(eps, t, x, generator=g).prev_sample
            else:
                x = s.step(eps, t, x).prev_sample
            inputs.append(xin.flatten())
            outputs.append(x.flatten())
        tensors[f"{name}/xin"] = torch.stack(inputs).contiguous()
        tensors[f"{name}/x"] = torch.stack(outputs).contiguous()
        n = int(np.prod(shape))
        meta[f"run/{name}"] = f"{config} {kind} {steps} {eta!r} {seed} {n}"
        print(f"  {name}: {kind} {steps} steps ({len(s.timesteps)} evaluations), config {config}, eta {eta}, "
              f"n {n}, |x| max {x.abs().max():.4f}")
    meta["runs"] = ",".join(r[0] for r in RUNS)
    for name in CONFIGS:
        meta[f"config/{name}"] = json.dumps(config_dict(name))
    save_file(tensors, os.path.join(OUT, "steps.safetensors"), metadata=meta)
    print(f"wrote steps.safetensors: {len(RUNS)} runs")


# ---- exhaustive Box-Muller check (not committed) ------------------------------------------------

def untemper(y):
    """Inverse of mt19937's output tempering (uint32 numpy arrays)."""
    y = y.astype(np.uint32)
    y = y ^ (y >> np.uint32(18))
    y = y ^ ((y << np.uint32(15)) & np.uint32(0xEFC60000))
    r = y.copy()
    for _ in range(5):
        r = y ^ ((r << np.uint32(7)) & np.uint32(0x9D2C5680))
    y = r
    r = y.copy()
    for _ in range(3):
        r = y ^ (r >> np.uint32(11))
    return r


def exhaustive(path):
    """For k in [0, 2^24): a 16-block whose 8 first uniforms are k..k+7 (u1 = 1 - k/2^24) and whose
    8 last are the same (u2 = k/2^24): the generator state is written so that its next outputs are
    exactly these (state words are untempered outputs, left = 624 so no twist happens first)."""
    g = torch.Generator("cpu").manual_seed(1)
    base = g.get_state().numpy().copy()
    total = 1 << 24
    blocks_per_call = 38  # 38 * 16 = 608 outputs < 623 available without a twist
    out = np.empty(2 * total, dtype=np.float32)
    k, pos = 0, 0
    while k < total:
        nb = min(blocks_per_call, (total - k) // 8)
        ks = np.arange(k, k + nb * 8, dtype=np.uint32).reshape(nb, 8)
        words = np.concatenate([ks, ks], axis=1).reshape(-1)
        state = base.copy()
        struct.pack_into("<QiiQ", state, 0, 1, 624, 1, 0)  # seed, left, seeded, next
        mt = np.zeros(624, dtype=np.uint64)
        mt[: words.size] = untemper(words)
        state[24:24 + 624 * 8] = mt.view(np.uint8)
        g.set_state(torch.from_numpy(state))
        out[pos:pos + words.size] = torch.randn(words.size, generator=g).numpy()
        pos += words.size
        k += nb * 8
    out.tofile(path)
    print(f"wrote {path}: {out.size} values (all 2^24 u1 and all 2^24 u2), "
          f"cpu capability {torch.backends.cpu.get_cpu_capability()}")


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--exhaustive":
        exhaustive(sys.argv[2])
        return
    torch.set_num_threads(1)
    capability = torch.backends.cpu.get_cpu_capability()
    if capability not in ("AVX2", "AVX512"):
        sys.exit(f"torch runs its {capability} kernels here; the committed goldens are torch on x86-64 with AVX2 "
                 "(what OW_RANDN_TORCH_AVX2 reproduces): regenerate them on such a CPU")
    os.makedirs(OUT, exist_ok=True)
    rng_golden()
    schedules_golden()
    steps_golden()


if __name__ == "__main__":
    main()
