#!/usr/bin/python3
"""Trains a segmentation network on a jcas dataset's labelled split and saves it as TorchScript: the
source model trained in PyTorch that a source-free user brings to jcas (`--source.torchscript`).

    python3 tools/python/train_source.py --data DATA --out model.pt \\
        [--arch lraspp_mobilenet_v2] [--backbone-weights mobilenet_v2.pth] [--size 256x256]

DATA is in jcas's layout: img/NAME.png (RGB), label/NAME.png (class ids 0..K-1, 255 ignored),
<split>.txt (one NAME a line, '#' comments), info.json {"classes": K}. The module takes RGB images
normalised with ImageNet's mean/std (jcas's default TorchScript input convention) and returns
{"out": logits B x K x H x W} at the input's size. Architectures: tools/python/segmentation_models.py.

Training: AdamW (weight decay 1e-4), the backbone at --backbone-lr (1e-4 when it starts from
--backbone-weights, else the head's rate) and the head at --lr (1e-3), poly decay
(power 0.9) per iteration, random horizontal and vertical flips, cross-entropy ignoring 255, full
batches only. After each epoch the model is scored on --val-split when that split exists (binary
tasks: mean per-image Dice of class 1, an image with neither truth nor prediction counting 1;
otherwise mean IoU over the classes present in truth or prediction) and the best epoch is kept.
FILE.pt.json records the arguments, the val scores per epoch, the chosen epoch and the time.

With --backbone-weights (a torchvision mobilenet_v2 state_dict, e.g. BatchNorm-folded ImageNet
weights) the backbone's BatchNorm layers stay in evaluation mode (--freeze-bn, default then), and
before saving their statistics are set to those of the training images without changing the
model's output (--bn-restats, default with --freeze-bn): jcas adapts with BatchNorm in training
mode, which then starts near the trained function instead of renormalising folded layers."""
import argparse
import copy
import datetime
import json
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jcas_io  # noqa: E402
import segmentation_models  # noqa: E402


def log(msg):
    print(f"{datetime.datetime.now():%Y-%m-%d %H:%M:%S}  {msg}", flush=True)


def parse_size(text):
    try:
        h, w = (int(v) for v in text.lower().split("x"))
        if h > 0 and w > 0:
            return h, w
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f"--size {text!r}: expected HxW, e.g. 256x256")


def load_split(root, split, size):
    """The split's images (N x 3 x H x W uint8, RGB) and labels (N x H x W uint8), resized to `size`
    (bilinear / nearest) when given; without `size` every image must have the same size."""
    names = jcas_io.split_names(root, split)
    if not names:
        raise SystemExit(f"{os.path.join(root, split + '.txt')}: no images listed")
    images, labels = [], []
    for name in names:
        image = os.path.join(root, "img", name + ".png")
        if not os.path.exists(image):  # jcas also reads other image extensions (labels stay PNG)
            image = next((image[:-4] + e for e in (".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
                          if os.path.exists(image[:-4] + e)), image)
        rgb = jcas_io.read_resized(image, size)
        label = jcas_io.read_resized(os.path.join(root, "label", name + ".png"), size, label=True)
        if label.ndim != 2 or label.shape != rgb.shape[:2]:
            raise SystemExit(f"{root}: label {name}.png is {label.shape}, image {rgb.shape} "
                             "(labels: one channel of class ids, the image's size)")
        if images and rgb.shape != images[0].shape:
            raise SystemExit(f"{root}: {name}.png is {rgb.shape[0]}x{rgb.shape[1]}, {names[0]}.png "
                             f"{images[0].shape[0]}x{images[0].shape[1]} (HxW): pass --size HxW")
        images.append(rgb)
        labels.append(label.astype(np.uint8))
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(np.stack(labels))


def set_training(model, freeze_bn):
    model.train()
    if freeze_bn:
        for m in segmentation_models.backbone_batchnorms(model):
            m.eval()


def predict(model, images, batch):
    """Arg-max labels of uint8 images, in evaluation mode."""
    model.eval()
    out = []
    with torch.no_grad():
        for b in range(0, len(images), batch):
            x = jcas_io.normalise(images[b:b + batch], jcas_io.IMAGENET)
            out.append(model(x)["out"].argmax(1).to(torch.uint8))
    return torch.cat(out)


def score(pred, truth, k):
    """Binary (k = 2): mean per-image Dice of class 1 (both empty: 1). Otherwise: mean IoU over the
    classes (pixels of the whole split; classes absent from truth and prediction left out)."""
    valid = truth != 255
    if k == 2:
        p = ((pred == 1) & valid).flatten(1).sum(1).double()
        t = ((truth == 1) & valid).flatten(1).sum(1).double()
        inter = ((pred == 1) & (truth == 1) & valid).flatten(1).sum(1).double()
        dice = torch.where(p + t > 0, 2 * inter / (p + t).clamp(min=1), torch.ones_like(p))
        return float(dice.mean())
    conf = torch.bincount(truth[valid].long() * k + pred[valid].long().clamp(max=k - 1), minlength=k * k)
    conf = conf.view(k, k).double()
    inter = conf.diag()
    union = conf.sum(0) + conf.sum(1) - inter
    return float((inter[union > 0] / union[union > 0]).mean())


def precise_batchnorms(model, images, batch, freeze_bn):
    """PreciseBN (Wu & Johnson, "Rethinking 'Batch' in BatchNorm", 2021): the running statistics of
    the BatchNorm layers that train in training mode recomputed with the current weights, as the
    average of their batch statistics over `images`, instead of the exponential average over the
    weights' history (which lags behind a fast-changing network: a from-scratch MobileNetV3 scored
    in evaluation mode labels every pixel background without it). Returns the number of layers."""
    frozen = set(segmentation_models.backbone_batchnorms(model)) if freeze_bn else set()
    layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m not in frozen]
    momenta = [m.momentum for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    set_training(model, freeze_bn)
    with torch.no_grad():
        for b in range(0, len(images) - batch + 1, batch):  # full batches, as in training
            model(jcas_io.normalise(images[b:b + batch], jcas_io.IMAGENET))
    for m, momentum in zip(layers, momenta):
        m.momentum = momentum
    model.eval()
    return len(layers)


def restat_batchnorms(model, images, batch):
    """Gives the backbone's BatchNorm layers the statistics of their inputs on `images` (evaluation
    mode) and rescales their affine parameters so that the evaluation output is unchanged:
    w' = w sqrt(v + eps) / sqrt(rv + eps), b' = b + w (m - rm) / sqrt(rv + eps)."""
    bns = segmentation_models.backbone_batchnorms(model)
    sums = {m: [0.0, 0.0, 0] for m in bns}

    def hook(m, inputs):
        x = inputs[0].detach().double()
        s = sums[m]
        s[0] = s[0] + x.sum((0, 2, 3))
        s[1] = s[1] + (x * x).sum((0, 2, 3))
        s[2] += x.numel() // x.shape[1]

    handles = [m.register_forward_pre_hook(hook) for m in bns]
    predict(model, images, batch)
    for h in handles:
        h.remove()
    with torch.no_grad():
        for m in bns:
            total, squares, n = sums[m]
            mean = total / n
            var = (squares / n - mean * mean).clamp(min=0)
            old = (m.running_var.double() + m.eps).sqrt()
            w = m.weight.double() if m.affine else torch.ones_like(mean)
            b = m.bias.double() if m.affine else torch.zeros_like(mean)
            if m.affine:
                m.weight.copy_(w * (var + m.eps).sqrt() / old)
                m.bias.copy_(b + w * (mean - m.running_mean.double()) / old)
            m.running_mean.copy_(mean)
            m.running_var.copy_(var)
    return len(bns)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", required=True, help="labelled dataset folder (img/, label/, <split>.txt, info.json)")
    p.add_argument("--split", default="train", help="the split trained on (default train)")
    p.add_argument("--val-split", default="val", help="the split that selects the epoch, when it exists (default val; '' none)")
    p.add_argument("--out", required=True, help="TorchScript file to write (and OUT.json)")
    p.add_argument("--arch", default="lraspp_mobilenet_v2", choices=segmentation_models.ARCHS)
    p.add_argument("--backbone-weights", default=None,
                   help="torchvision mobilenet_v2 state_dict: its features.* start the backbone")
    p.add_argument("--freeze-bn", default=None, action=argparse.BooleanOptionalAction,
                   help="keep the backbone's BatchNorm layers in evaluation mode (default: with --backbone-weights)")
    p.add_argument("--bn-restats", default=None, action=argparse.BooleanOptionalAction,
                   help="before saving, give frozen BatchNorm layers the training images' statistics, "
                        "output unchanged (default: with --freeze-bn)")
    p.add_argument("--precise-bn", action="store_true",
                   help="before each val score and before saving, recompute the running statistics of the BatchNorm "
                        "layers trained in training mode on the training images with the current weights (PreciseBN)")
    p.add_argument("--size", type=parse_size, default=None, help="HxW to resize to (default: the images' own size)")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3, help="the head's learning rate (default 1e-3)")
    p.add_argument("--backbone-lr", type=float, default=None,
                   help="the backbone's learning rate (default 1e-4 with --backbone-weights, else --lr)")
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="0: PyTorch's default")
    args = p.parse_args(argv)
    if args.freeze_bn is None:
        args.freeze_bn = bool(args.backbone_weights)
    if args.backbone_lr is None:
        args.backbone_lr = 1e-4 if args.backbone_weights else args.lr
    if args.bn_restats is None:
        args.bn_restats = args.freeze_bn
    if args.epochs < 1 or args.batch < 1:
        p.error("--epochs and --batch must be at least 1")
    if args.backbone_weights and args.arch not in segmentation_models.MOBILENET_V2_ARCHS:
        p.error(f"--backbone-weights: {args.arch} has no MobileNetV2 backbone "
                f"(one of {', '.join(segmentation_models.MOBILENET_V2_ARCHS)})")
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    started = time.time()

    k = jcas_io.num_classes(args.data)
    x, y = load_split(args.data, args.split, args.size)
    has_val = bool(args.val_split) and os.path.exists(os.path.join(args.data, args.val_split + ".txt")) \
        and bool(jcas_io.split_names(args.data, args.val_split))
    vx, vy = load_split(args.data, args.val_split, args.size) if has_val else (None, None)
    if has_val and vx.shape[2:] != x.shape[2:]:
        p.error(f"{args.split} images are {x.shape[2]}x{x.shape[3]}, {args.val_split} {vx.shape[2]}x{vx.shape[3]} (HxW): pass --size HxW")
    for split, labels in [(args.split, y)] + ([(args.val_split, vy)] if has_val else []):
        bad = ((labels != 255) & (labels >= k)).sum().item()
        if bad:
            p.error(f"{args.data}: {bad} label pixels of {split} are >= {k} (info.json's classes) and not 255")
    metric = "dice" if k == 2 else "miou"
    log(f"{args.arch}: {k} classes, {args.split} {len(x)} images"
        + (f", {args.val_split} {len(vx)}" if has_val else f" (no {args.val_split!r} split: the last epoch is kept)")
        + f", {x.shape[2]}x{x.shape[3]} (HxW), loaded in {time.time() - started:.1f} s")

    try:
        model = segmentation_models.build(args.arch, k, args.backbone_weights)
    except ValueError as e:
        raise SystemExit(f"error: {e}")
    if args.backbone_weights:
        log(f"backbone: {args.backbone_weights} (features.* loaded)")
    backbone = [q for n, q in model.named_parameters() if n.startswith("backbone.")]
    head = [q for n, q in model.named_parameters() if not n.startswith("backbone.")]
    opt = torch.optim.AdamW([{"params": backbone, "lr": args.backbone_lr}, {"params": head, "lr": args.lr}],
                            weight_decay=args.weight_decay)
    batch = min(args.batch, len(x))
    if batch < 2:
        p.error(f"{args.split} has {len(x)} image(s): BatchNorm training needs batches of at least 2")
    per_epoch = len(x) // batch  # full batches only (BatchNorm)
    total_iters = per_epoch * args.epochs
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: (1 - min(it, total_iters - 1) / total_iters) ** 0.9)

    scores, losses, best, best_state = [], [], None, None
    train_started = time.time()
    for epoch in range(args.epochs):
        t0 = time.time()
        set_training(model, args.freeze_bn)
        order = torch.randperm(len(x))
        total = 0.0
        for b in range(per_epoch):
            idx = order[b * batch:(b + 1) * batch]
            xb, yb = x[idx], y[idx]
            hflip = torch.rand(len(idx)) < 0.5
            vflip = torch.rand(len(idx)) < 0.5
            xb[hflip], yb[hflip] = xb[hflip].flip(-1), yb[hflip].flip(-1)
            xb[vflip], yb[vflip] = xb[vflip].flip(-2), yb[vflip].flip(-2)
            out = model(jcas_io.normalise(xb, jcas_io.IMAGENET))["out"]
            loss = F.cross_entropy(out, yb.long(), ignore_index=255)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        train_s = time.time() - t0
        losses.append(total / per_epoch)
        if args.precise_bn:
            precise_batchnorms(model, x, batch, args.freeze_bn)
        line = f"epoch {epoch + 1}/{args.epochs}  loss {losses[-1]:.4f}"
        if has_val:
            scores.append(score(predict(model, vx, batch), vy, k))
            if best is None or scores[-1] > scores[best]:
                best, best_state = epoch, copy.deepcopy(model.state_dict())
            line += f"  val {metric} {scores[-1]:.4f}"
        else:
            best = epoch
        elapsed = time.time() - train_started
        eta = elapsed / (epoch + 1) * (args.epochs - epoch - 1)
        log(f"{line}  {per_epoch * batch / train_s:.1f} img/s  ETA {datetime.timedelta(seconds=round(eta))}")
    train_seconds = time.time() - train_started
    if best_state is not None:
        model.load_state_dict(best_state)
    chosen = f"chosen epoch {best + 1}" + (f": val {metric} {scores[best]:.4f}" if has_val else " (the last; no val split)")
    log(chosen)

    model.eval()
    probe = jcas_io.normalise(x[:batch], jcas_io.IMAGENET)
    with torch.no_grad():
        before = model(probe)["out"]
    restat = None
    if args.bn_restats:
        n = restat_batchnorms(model, x, batch)
        with torch.no_grad():
            after = model(probe)["out"]
            trained = copy.deepcopy(model).train()(probe)["out"]  # a copy: training mode updates statistics
        restat = {"layers": n, "max_abs_eval_change": float((after - before).abs().max()),
                  "train_mode_argmax_agreement": float((trained.argmax(1) == after.argmax(1)).double().mean())}
        log(f"BatchNorm statistics of {n} backbone layers set on {args.split}: evaluation output changed by at most "
            f"{restat['max_abs_eval_change']:.2e}; in training mode {restat['train_mode_argmax_agreement']:.4f} "
            f"of the pixels keep their label ({len(probe)} training images)")
        before = after
    scripted = torch.jit.script(model)
    torch.jit.save(scripted, args.out)
    with torch.no_grad():
        check = torch.jit.load(args.out)(probe)["out"]
    diff = float((check - before).abs().max())
    if diff > 1e-4:
        raise SystemExit(f"{args.out}: the saved TorchScript module differs from the trained model by {diff}")
    info = {"arguments": {**vars(args), "size": list(args.size) if args.size else None},
            "size": list(x.shape[2:]), "arch": args.arch, "classes": k,
            "input": {"channels": "rgb", "scale": 1 / 255, "mean": list(jcas_io.IMAGENET["mean"]),
                      "std": list(jcas_io.IMAGENET["std"])},
            "images": {args.split: len(x), **({args.val_split: len(vx)} if has_val else {})},
            "val_split": args.val_split if has_val else None, "val_metric": metric if has_val else None,
            "val_scores": scores, "train_losses": losses, "chosen_epoch": best + 1,
            "chosen_val_score": scores[best] if has_val else None, "bn_restats": restat,
            "training_seconds": round(train_seconds, 1), "total_seconds": round(time.time() - started, 1),
            "torch": torch.__version__}
    with open(args.out + ".json", "w") as f:
        json.dump(info, f, indent=2)
    log(f"wrote {args.out} and {args.out}.json ({k} classes, input: RGB, ImageNet mean/std; "
        f"training {datetime.timedelta(seconds=round(train_seconds))}); {chosen}")
    return info


if __name__ == "__main__":
    main()
