"""stable_safetensors.py: writes .safetensors files whose bytes do not change from
run to run, so committed goldens do not churn: tensors in the given order and
metadata keys sorted (safetensors.torch.save_file orders metadata by a hash map)."""
import json

import torch

SAFETENSORS_DTYPES = {torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32", torch.float64: "F64",
                      torch.int64: "I64", torch.int32: "I32", torch.int16: "I16", torch.int8: "I8",
                      torch.uint8: "U8", torch.bool: "BOOL"}


def save_file(tensors, path, metadata=None):
    """tensors: name -> tensor (any dtype above), written little-endian in this order."""
    header = {"__metadata__": dict(sorted((metadata or {}).items()))}
    chunks, offset = [], 0
    for key, tensor in tensors.items():
        data = tensor.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        header[key] = {"dtype": SAFETENSORS_DTYPES[tensor.dtype], "shape": list(tensor.shape),
                       "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little") + text)
        for chunk in chunks:
            f.write(chunk)
