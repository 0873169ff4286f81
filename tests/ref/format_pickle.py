"""format_pickle.py: building torch-style checkpoint files by hand, for the format
fixtures: lying pickles (shapes, sizes, storages), hostile globals, and the two
containers (zip archive, legacy stream) around any pickle bytes.
"""
import collections
import io
import pickle
import re
import struct
import zipfile

import torch

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
STORAGE_ELEMENT_SIZE = {"FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "DoubleStorage": 8,
                        "LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1,
                        "ByteStorage": 1, "BoolStorage": 1}


class FakeStorage:
    """A storage as torch's persistent_id describes it, with any values we like."""

    def __init__(self, key, numel, storage_type=torch.FloatStorage, location="cpu", view=None):
        self.key, self.numel, self.type, self.location, self.view = key, numel, storage_type, location, view


class FakeTensor:
    """Pickles as torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride), False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class _Pickler(pickle.Pickler):
    def __init__(self, f, protocol, legacy):
        super().__init__(f, protocol=protocol)
        self.legacy = legacy

    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            pid = ("storage", obj.type, obj.key, obj.location, obj.numel)
            return pid + (obj.view,) if self.legacy else pid
        return None


def dumps(obj, protocol=2, legacy=False):
    buf = io.BytesIO()
    _Pickler(buf, protocol, legacy).dump(obj)
    return buf.getvalue()


def _write(z, name, data):
    """Adds a member with a fixed date, so fixtures are byte-identical run to run."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = z.compression
    z.writestr(info, data)


class _Anything:
    """Stands for every non-storage global while stable_legacy_keys walks our own file."""
    def __init__(self, *a, **k):
        pass

    def __call__(self, *a, **k):
        return _Anything()

    def __setitem__(self, k, v):
        pass

    def __setstate__(self, state):
        pass

    def append(self, v):
        pass

    def extend(self, v):
        pass


def stable_legacy_keys(data):
    """Legacy files name storages by memory address and store them in address
    order (different every run). Rename them k00000000, k00000001, ... in order of
    first use in the object pickle and store them in that order, so fixtures are
    byte-identical run to run. (The renaming is protocol-2 BINUNICODE only.)"""
    f = io.BytesIO(data)
    for _ in range(3):  # magic, protocol version, sys_info
        pickle.load(f)
    first_use, dtypes = [], {}

    class Loader(pickle.Unpickler):  # our own trusted file; nothing real is called
        def find_class(self, module, name):
            return name if name.endswith("Storage") else _Anything

        def persistent_load(self, pid):
            if pid[0] == "module":  # ('module', class, source file, source): a pickled nn.Module's class
                return _Anything
            key = pid[2]
            if key not in dtypes:
                first_use.append(key)
                dtypes[key] = pid[1]
            return None

    Loader(f).load()
    object_end = f.tell()
    keys = pickle.load(f)
    blobs = {}
    for key in keys:
        numel = struct.unpack("<q", f.read(8))[0]
        size = STORAGE_ELEMENT_SIZE[dtypes[key]]
        blobs[key] = struct.pack("<q", numel) + f.read(numel * size)
    rest = f.read()
    new = {k: "k%08d" % i for i, k in enumerate(first_use)}

    def rename(m):
        key = m.group(2).decode()
        if m.group(1)[0] != len(m.group(2)) or key not in new:
            return m.group(0)
        return b"X" + struct.pack("<I", len(new[key])) + new[key].encode()
    head = re.sub(rb"X(.)\x00\x00\x00(\d{1,20})", rename, data[:object_end], flags=re.S)
    order = sorted(keys, key=lambda k: new[k])
    out = head + pickle.dumps([new[k] for k in order], protocol=2)
    return out + b"".join(blobs[k] for k in order) + rest


def zip_container(pickle_bytes, storages=None, root="archive", extra=None, deflate=False):
    """A torch zip archive: <root>/data.pkl, byteorder, data/<key>, version (stored
    like torch writes them, or deflated to keep big hostile fixtures small)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as z:
        _write(z, f"{root}/data.pkl", pickle_bytes)
        _write(z, f"{root}/byteorder", b"little")
        for key, data in (storages or {}).items():
            _write(z, f"{root}/data/{key}", data)
        _write(z, f"{root}/version", b"3\n")
        for name, data in (extra or {}).items():
            _write(z, name, data)
    return buf.getvalue()


def legacy_container(pickle_bytes, storages=None, element_sizes=None):
    """The legacy stream: magic, protocol version, sys_info, object, keys, storages."""
    sys_info = dict(protocol_version=1001, little_endian=True, type_sizes=dict(short=2, int=4, long=4))
    out = pickle.dumps(LEGACY_MAGIC, protocol=2) + pickle.dumps(1001, protocol=2) + pickle.dumps(sys_info, protocol=2)
    out += pickle_bytes
    keys = sorted((storages or {}).keys())
    out += pickle.dumps(keys, protocol=2)
    for key in keys:
        data = storages[key]
        size = (element_sizes or {}).get(key, 4)
        out += struct.pack("<q", len(data) // size) + data
    return out


def raw_global_call(module, name, argument, protocol=2):
    """A pickle that calls module.name(argument), written opcode by opcode."""
    arg = argument.encode()
    if protocol >= 4:
        def short(s):
            return b"\x8c" + bytes([len(s)]) + s
        return b"\x80\x04" + short(module.encode()) + short(name.encode()) + b"\x93" + short(arg) + b"\x85R."
    return (b"\x80\x02c" + module.encode() + b"\n" + name.encode() + b"\n" + b"X" + struct.pack("<I", len(arg)) + arg +
            b"\x85R.")


def replace_location(data, old="cpu", new="cuda:0"):
    """Rewrites the storage location string in a protocol-2 pickle (BINUNICODE)."""
    a = b"X" + struct.pack("<I", len(old)) + old.encode()
    b = b"X" + struct.pack("<I", len(new)) + new.encode()
    assert a in data
    return data.replace(a, b)


def rezip(path_or_bytes, root=None, edit_pickle=None):
    """Copies a torch zip archive, renaming its root folder and/or editing data.pkl."""
    src = zipfile.ZipFile(io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes)
    names = src.namelist()
    old_root = names[0].split("/")[0]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as z:
        for name in names:
            data = src.read(name)
            if name.endswith("/data.pkl") and edit_pickle:
                data = edit_pickle(data)
            new_name = (root or old_root) + name[len(old_root):]
            _write(z, new_name, data)
    return buf.getvalue()
