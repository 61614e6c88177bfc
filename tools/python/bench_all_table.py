#!/usr/bin/python3
"""Every measurement of one `jcas-bench` run as one Markdown table, as README's speed section shows it.

    build/jcas-bench --threads 2 --sections step,loss,pseudo_label,real_size,paper,scaling,precision,imported \\
        --torchscript model.pt --classes 4 --size 128x160 > run.jsonl
    /usr/bin/python3 tools/python/bench_all_table.py run.jsonl

One row per JSON line, in the order jcas-bench printed them: the arithmetic peak, training steps
(median time, images/s, JCAS's ratio to the CE step taken in turn with it, the network's GFLOP/s and
share of the peak), bfloat16 steps against the float32 step before them, the JCAS loss alone,
pseudo-labelling, the paper-scale step and the data-parallel steps; every row with its peak RSS.
"""
import json
import sys


def training_case(j):
    name = f"JCAS {j['impl']} {j['grid']}" if j["method"] == "jcas" else "CE"
    if j.get("model", "native") != "native":
        where = f"{j['input']}, imported {j['model'].rsplit('/', 1)[-1]}"
    else:
        where = f"{j['input']}, {'ResNet-101' if j.get('preset') == 'resnet101' else 'small network'}"
    return f"{name}, {where}, {j['precision']}"


def training_figure(j):
    text = f"{1000 * j['step_s']:.1f} ms, {j['images_per_s']:.1f} images/s"
    if "over_ce" in j:
        text += f" ({j['over_ce']:.2f}x CE)"
    if "over_float32" in j:
        text += f" ({j['over_float32']:.2f}x float32)"
    if "share_of_peak" in j:
        text += f", {j['network_gflop_s']:.0f} GFLOP/s ({100 * j['share_of_peak']:.0f} % of peak)"
    return text


def row(j):
    m = j["measure"]
    if m == "arithmetic peak":
        return ("arithmetic peak (float32)", "matrix product 2048x2048 / 3x3 conv / 1x1 conv",
                f"{j['matrix_product_gflop_s']:.1f} / {j['conv3x3_gflop_s']:.1f} / {j['conv1x1_gflop_s']:.1f} GFLOP/s")
    if m == "training step":
        return ("training step", training_case(j), training_figure(j))
    if m == "JCAS loss forward+backward":
        return ("JCAS loss alone", f"N = {j['N']} ({j['grid']}), {j['impl']}", f"{1000 * j['step_s']:.1f} ms")
    if m == "pseudo-labelling":
        return ("pseudo-labelling", f"{j['input']}, {j['classes']} classes, {j['inference']}",
                f"{j['images_per_s']:.1f} images/s")
    if m == "data-parallel retrain step":
        return ("data-parallel retrain step",
                f"{j['world']} process(es) x {j['threads_per_rank']} thread, BatchNorm {j['batchnorm']}, {j['input']}",
                f"{1000 * j['step_s']:.1f} ms, {j['images_per_s']:.1f} images/s, "
                f"all-reduce {100 * j['all_reduce_share']:.1f} % of the step")
    return (m, "", json.dumps(j))


def main():
    lines = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    threads = sorted({j.get("threads", j.get("threads_per_rank")) for j in lines} - {None})
    print(f"One `jcas-bench` run ({len(lines)} measurements; threads: {', '.join(map(str, threads))}):\n")
    print("| measurement | case | figure | peak RSS |\n| --- | --- | --- | --: |")
    for j in lines:
        rss = j.get("peak_rss_mib", j.get("peak_rss_mib_rank0"))
        print("| " + " | ".join(row(j)) + (f" | {rss:.0f} MiB |" if rss is not None else " | – |"))


if __name__ == "__main__":
    main()
