"""format_expect.py: writes the `.expect` manifests the C format tests check against.

A manifest lists what a reader must find in one fixture, independently of our
reader (values come from torch/numpy bytes):
    count <number of tensors>
    tensor <name> <DTYPE> <ndim> <dim>... <hex of the contiguous little-endian bytes, or '-' when empty>
    meta <key> <value as hex of UTF-8>
Bad fixtures are listed in bad.list as: <file> <STATUS> <substring the message must contain>.
"""
import torch

DTYPE_NAMES = {
    torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.float64: "F64",
    torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
    torch.uint8: "U8", torch.bool: "BOOL",
}


def tensor_bytes(t):
    """Contiguous little-endian bytes of a CPU tensor (bf16 through a uint8 view)."""
    t = t.detach().cpu().contiguous()
    if t.numel() == 0:
        return b""
    return t.reshape(-1).view(torch.uint8).numpy().tobytes()


def write_expect(path, tensors, metadata=None):
    """tensors: list of (name, tensor)."""
    lines = [f"count {len(tensors)}"]
    for name, t in tensors:
        assert " " not in name and "\n" not in name
        data = tensor_bytes(t)
        dims = " ".join(str(d) for d in t.shape)
        head = f"tensor {name} {DTYPE_NAMES[t.dtype]} {t.dim()}" + (f" {dims}" if dims else "")
        lines.append(f"{head} {data.hex() if data else '-'}")
    for k, v in (metadata or {}).items():
        assert " " not in k
        lines.append(f"meta {k} {v.encode('utf-8').hex()}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
