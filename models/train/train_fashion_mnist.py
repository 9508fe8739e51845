#!/usr/bin/env python3
"""Train the TinySaver example model zoo on Fashion-MNIST and export it to ONNX.

Produces models/zoo/{base-cnn,saver-linear,saver-mlp,saver-tinycnn}.onnx and models/zoo/manifest.json.

Contract of every exported model (see models/README.md):
  input  "input"  FP32 [N,1,28,28]  pixel/255, NCHW, no other preprocessing (normalisation is inside the model)
  output "logits" FP32 [N,10]       raw logits, no softmax
Data: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist/*-ubyte.gz), read directly (no downloads).

Regenerate (from the repository root, Debian's python with python3-torch and python3-onnx):
  /usr/bin/python3 models/train/train_fashion_mnist.py
Seeded and single-process; with the same torch build and --threads the run is reproducible.
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
           "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
# Training-set pixel statistics (of pixel/255); folded into each model as its first op.
MEAN, STD = 0.2860, 0.3530
OPSET = 13


# ---------------------------------------------------------------- data

def read_idx(path):
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise ValueError(f"{path}: payload has {data.size} bytes, header says {int(np.prod(dims))}")
    return data.reshape(dims)


def load_split(data_dir, split):
    prefix = "train" if split == "train" else "t10k"
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    x = torch.from_numpy(images.astype(np.float32) / np.float32(255.0)).unsqueeze(1)  # the serving contract
    y = torch.from_numpy(labels.astype(np.int64))
    return x, y


# ---------------------------------------------------------------- models

class Normalize(nn.Module):
    """Folds the mean/std normalisation into the graph so clients only send pixel/255."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(MEAN))
        self.register_buffer("std", torch.tensor(STD))

    def forward(self, x):
        return (x - self.mean) / self.std


def conv_bn(cin, cout):
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def base_cnn():
    # Kept cheap to train on 2 shared CPU cores: a strided stem instead of a full-resolution conv
    # (activation memory traffic, not MACs, dominates CPU training time here).
    return nn.Sequential(
        Normalize(),
        nn.Conv2d(1, 32, 5, stride=2, padding=2, bias=False), nn.BatchNorm2d(32), nn.ReLU(inplace=True),  # -> 14x14
        *conv_bn(32, 64), nn.MaxPool2d(2),                      # 14x14 -> 7x7
        *conv_bn(64, 128),                                      # 7x7
        nn.Flatten(), nn.Dropout(0.3),
        nn.Linear(128 * 7 * 7, 128, bias=False), nn.BatchNorm1d(128), nn.ReLU(inplace=True),
        nn.Dropout(0.3), nn.Linear(128, 10),
    )


def saver_linear():
    return nn.Sequential(Normalize(), nn.Flatten(), nn.Linear(784, 10))


def saver_mlp():
    return nn.Sequential(Normalize(), nn.Flatten(), nn.Linear(784, 128), nn.ReLU(inplace=True),
                         nn.Dropout(0.2), nn.Linear(128, 10))


def saver_tinycnn():
    return nn.Sequential(
        Normalize(),
        *conv_bn(1, 8), nn.MaxPool2d(2),      # 28 -> 14
        *conv_bn(8, 16), nn.MaxPool2d(2),     # 14 -> 7
        nn.Flatten(), nn.Linear(16 * 7 * 7, 32), nn.ReLU(inplace=True), nn.Linear(32, 10),
    )


# name -> (constructor, role, epochs, lr, weight_decay)
ZOO = {
    "base-cnn": (base_cnn, "base", 6, 3e-3, 1e-4),
    "saver-linear": (saver_linear, "saver", 10, 2e-3, 1e-4),
    "saver-mlp": (saver_mlp, "saver", 12, 2e-3, 1e-4),
    "saver-tinycnn": (saver_tinycnn, "saver", 10, 5e-3, 1e-4),
}


def count_macs(model):
    """Analytic multiply-accumulates for one 1x28x28 sample.

    conv = Cout*Hout*Wout*(Cin/groups)*kh*kw, linear = in*out. Normalisation, BatchNorm, ReLU, pooling,
    dropout and biases count as 0 MACs (BatchNorm folds into the preceding conv/linear at export).
    """
    macs = 0
    hooks = []

    def on_conv(m, inp, out):
        nonlocal macs
        _, cout, hout, wout = out.shape
        kh, kw = m.kernel_size
        macs += cout * hout * wout * (m.in_channels // m.groups) * kh * kw

    def on_linear(m, inp, out):
        nonlocal macs
        macs += m.in_features * m.out_features

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(on_conv))
        elif isinstance(m, nn.Linear):
            hooks.append(m.register_forward_hook(on_linear))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 1, 28, 28))
    model.train(was_training)
    for h in hooks:
        h.remove()
    return int(macs)


def count_params(model):
    return int(sum(p.numel() for p in model.parameters()))


# ---------------------------------------------------------------- training

def evaluate(model, x, y, batch=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            correct += int((model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
    return correct / x.shape[0]


def train(name, seed, data, batch_size, epochs_override=None):
    ctor, role, epochs, lr, wd = ZOO[name]
    if epochs_override:
        epochs = epochs_override
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = ctor()
    x_train, y_train, x_test, y_test = data
    steps_per_epoch = (x_train.shape[0] + batch_size - 1) // batch_size
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=wd)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, epochs=epochs, steps_per_epoch=steps_per_epoch)
    t0 = time.time()
    for epoch in range(1, epochs + 1):
        model.train()
        perm = torch.randperm(x_train.shape[0], generator=gen)
        total_loss = 0.0
        for i in range(0, x_train.shape[0], batch_size):
            idx = perm[i:i + batch_size]
            xb, yb = x_train[idx], y_train[idx]
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total_loss += float(loss) * xb.shape[0]
        acc = evaluate(model, x_test, y_test)
        print(f"[{name}] epoch {epoch}/{epochs} loss {total_loss / x_train.shape[0]:.4f} "
              f"test_acc {acc * 100:.2f}% elapsed {time.time() - t0:.0f}s", flush=True)
    model.eval()
    return model, evaluate(model, x_test, y_test), time.time() - t0


def export(model, path):
    model.eval()
    torch.onnx.export(
        model, torch.zeros(1, 1, 28, 28), path,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
        opset_version=OPSET, do_constant_folding=True,
    )
    import onnx
    m = onnx.load(path)
    onnx.checker.check_model(m)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist"))
    ap.add_argument("--out-dir", default=os.path.normpath(os.path.join(here, "..", "zoo")))
    ap.add_argument("--seed", type=int, default=20261128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--only", nargs="*", choices=list(ZOO), help="train only these models (manifest entries merged)")
    ap.add_argument("--epochs", type=int, default=None, help="override epochs for every model (smoke runs)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out_dir, exist_ok=True)
    x_train, y_train = load_split(args.data_dir, "train")
    x_test, y_test = load_split(args.data_dir, "test")
    print(f"data: train {tuple(x_train.shape)} test {tuple(x_test.shape)} from {args.data_dir}", flush=True)

    manifest_path = os.path.join(args.out_dir, "manifest.json")
    entries = {}
    for name in (args.only or list(ZOO)):
        model, acc, seconds = train(name, args.seed, (x_train, y_train, x_test, y_test), args.batch_size, args.epochs)
        file = f"{name}.onnx"
        export(model, os.path.join(args.out_dir, file))
        entries[name] = {
            "name": name,
            "file": file,
            "role": ZOO[name][1],
            "params": count_params(model),
            "macs": count_macs(model),
            "testAccuracy": round(acc, 4),
            "trainSeconds": round(seconds, 1),
            "input": {"name": "input", "shape": ["N", 1, 28, 28], "datatype": "FP32"},
            "output": {"name": "logits", "shape": ["N", 10], "datatype": "FP32"},
            "classes": CLASSES,
        }
        print(f"[{name}] exported {file}: params {entries[name]['params']} macs {entries[name]['macs']} "
              f"test_acc {acc * 100:.2f}% in {seconds:.0f}s", flush=True)

    if args.only and os.path.exists(manifest_path):
        # Partial run: keep the other models' entries (read now, so concurrent partial runs merge).
        with open(manifest_path) as f:
            entries = {**{m["name"]: m for m in json.load(f)["models"]}, **entries}
    ordered = [entries[n] for n in ZOO if n in entries]
    base = next((m for m in ordered if m["role"] == "base"), None)
    if base:
        for m in ordered:
            if m["role"] == "saver" and m["macs"] * 10 > base["macs"]:
                print(f"error: {m['name']} has {m['macs']} MACs, more than 1/10 of the base's {base['macs']}",
                      file=sys.stderr)
                return 1
    manifest = {
        "dataset": "fashion-mnist",
        "preprocessing": "pixel/255 as float32, NCHW [N,1,28,28]; normalisation is folded into each model",
        "macsNote": "analytic per-sample count: conv = Cout*Hout*Wout*(Cin/groups)*kh*kw, linear = in*out; "
                    "BatchNorm, activations, pooling and biases count as 0",
        "opset": OPSET,
        "seed": args.seed,
        "torch": torch.__version__,
        "models": ordered,
    }
    with open(manifest_path, "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(f"wrote {manifest_path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
