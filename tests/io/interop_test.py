#!/usr/bin/env python3
"""Tables move between NumPy and rowshard both ways, through rowshard-ckpt.

    interop_test.py ROWSHARD_CKPT

A float32 and a float16 table written by NumPy are imported into
checkpoints; exporting them again to .npy and to safetensors must give
NumPy the same values bit for bit. The safetensors files are read here with
nothing but the format's spec (8-byte header length, JSON, raw data), as a
PyTorch user's safetensors.torch.load_file would read them.
"""
import json
import pathlib
import struct
import subprocess
import sys
import tempfile

import numpy as np


def read_safetensors(path):
    data = pathlib.Path(path).read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        dtype = {"F32": "<f4", "F16": "<f2"}[entry["dtype"]]
        raw = data[8 + length + begin:8 + length + end]
        tensors[name] = np.frombuffer(raw, dtype=dtype).reshape(entry["shape"])
    return tensors


def main():
    tool = sys.argv[1]
    rng = np.random.default_rng(7)
    with tempfile.TemporaryDirectory() as work:
        work = pathlib.Path(work)
        for name, table in {
            "wide": rng.standard_normal((1000, 33)).astype(np.float32),
            "half": rng.standard_normal((257, 8)).astype(np.float16),
        }.items():
            source = work / f"{name}.npy"
            np.save(source, table)
            root = work / name
            subprocess.run([tool, "import", str(source), "--table", name, "--root", str(root),
                            "--step", "3"], check=True, stdout=subprocess.DEVNULL)
            checkpoint = root / "ckpt-000003"
            subprocess.run([tool, "verify", str(checkpoint)], check=True, stdout=subprocess.DEVNULL)

            exported = work / f"{name}_out.npy"
            subprocess.run([tool, "export", str(checkpoint), str(exported), "--table", name],
                           check=True)
            back = np.load(exported)
            assert back.dtype == table.dtype, (name, back.dtype)
            assert np.array_equal(back, table), f"{name}: .npy export differs"

            tensors_path = work / f"{name}.safetensors"
            subprocess.run([tool, "export", str(checkpoint), str(tensors_path)], check=True)
            tensors = read_safetensors(tensors_path)
            assert np.array_equal(tensors[f"{name}.weight"], table), f"{name}: safetensors differs"
            assert np.array_equal(tensors[f"{name}.optimizer_state"], np.zeros(len(table), np.float32))
            print(f"{name}: {table.shape} {table.dtype} identical through .npy and safetensors")
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
