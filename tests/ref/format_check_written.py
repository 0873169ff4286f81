"""format_check_written.py: loads tests/golden/formats/written_by_oneword.safetensors
(written by our C writer: `build/<dir>/tests/formats/test_safetensors --write-golden <path>`)
with the Python safetensors library and checks every value. Exits non-zero on a mismatch.
    python tests/ref/format_check_written.py
"""
import os
import sys

import torch
from safetensors import safe_open

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "formats",
                    "written_by_oneword.safetensors")


def main():
    want = {
        "a.f32": torch.tensor([i * 0.5 - 1.0 for i in range(6)], dtype=torch.float32).reshape(2, 3),
        "b.f16": (torch.arange(4, dtype=torch.float32) / 3.0).half(),
        "c.bf16": (-torch.arange(4, dtype=torch.float32) / 7.0).bfloat16().reshape(2, 2),
        "d.i64": torch.tensor([-3, 1 << 40, 2**63 - 1], dtype=torch.int64),
        "e.empty": torch.zeros(0, 4),
        "f.scalar": torch.tensor(1.25),
    }
    failures = 0
    with safe_open(PATH, framework="pt") as f:
        meta = f.metadata()
        ok = meta == {"format": "pt", "name": "oneword test \u00fc"}
        print(f"{'ok  ' if ok else 'FAIL'} metadata {meta}")
        failures += not ok
        keys = sorted(f.keys())
        ok = keys == sorted(want)
        print(f"{'ok  ' if ok else 'FAIL'} keys {keys}")
        failures += not ok
        for name, w in want.items():
            got = f.get_tensor(name)
            ok = got.dtype == w.dtype and got.shape == w.shape and torch.equal(got, w)
            print(f"{'ok  ' if ok else 'FAIL'} {name}: {got.dtype} {tuple(got.shape)} bit-exact={ok}")
            failures += not ok
    print(f"{failures} failures")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
