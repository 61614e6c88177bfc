#!/usr/bin/python3
"""An imported TorchScript model's training step in PyTorch and in jcas, side by side.

PyTorch: torch.jit.load, training mode, SGD (lr 0.01, momentum 0.9, weight decay 5e-4), cross-entropy
on the "out" logits, random images and labels of --size; the median of --steps steps after 3 warm-up
steps, at --threads intra-op threads and as many OpenBLAS threads (as jcas keeps them; OpenBLAS's own
default, all cores, busy-waits against the intra-op threads). jcas: `jcas-bench --sections imported` on the same file (the
trainer's own step: CE, then JCAS at --grid, taken in turn). Prints one JSON line per measurement and
a Markdown table.

  /usr/bin/python3 tools/python/imported_model_speed.py --model source.pt --classes 2 --size 256x256 \
      --jcas-bench build/jcas-bench
"""
import argparse
import json
import os
import statistics
import subprocess
import time


def pytorch_step_seconds(model_file, classes, h, w, batch, steps, threads):
    os.environ.setdefault("OPENBLAS_NUM_THREADS", str(threads))  # read when torch loads OpenBLAS
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = torch.jit.load(model_file)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, h, w)
    y = torch.randint(0, classes, (batch, h, w))

    def step():
        opt.zero_grad()
        out = model(x)["out"]
        torch.nn.functional.cross_entropy(out, y).backward()
        opt.step()

    for _ in range(3):
        step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="TorchScript segmentation model (forward returns {'out': ...})")
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--size", default="256x256", help="input HxW")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--grid", default="32x32", help="JCAS affinity grid HxW")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--jcas-bench", default="build/jcas-bench")
    a = ap.parse_args()
    h, w = (int(v) for v in a.size.split("x"))
    rows = [{"where": "PyTorch", "method": "ce",
             "step_s": pytorch_step_seconds(a.model, a.classes, h, w, a.batch, a.steps, a.threads)}]
    out = subprocess.run([a.jcas_bench, "--sections", "imported", "--torchscript", a.model, "--classes", str(a.classes),
                          "--size", a.size, "--batch", str(a.batch), "--grid", a.grid, "--threads", str(a.threads)],
                         check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        j = json.loads(line)
        if "error" in j:
            raise SystemExit("jcas-bench: " + j["error"])
        if j.get("measure") == "training step":  # not the arithmetic peak's lines
            rows.append({"where": "jcas", "method": j["method"], "step_s": j["step_s"]})
    for r in rows:
        print(json.dumps(r))
    base = rows[0]["step_s"]
    print(f"\n{a.model}, batch {a.batch}, {a.size}, {a.threads} thread(s); JCAS at {a.grid} (dense)\n")
    print("| step | ms | x PyTorch's CE step |\n| --- | --: | --: |")
    for r in rows:
        print(f"| {r['where']} {r['method']} | {1000 * r['step_s']:.1f} | {r['step_s'] / base:.2f} |")


if __name__ == "__main__":
    main()
