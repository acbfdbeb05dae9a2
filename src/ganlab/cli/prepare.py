"""ganlab-prepare SRC DST --size 64 [--crop center|stretch] [--background white|black|R,G,B]
[--classify resnet50 --weights PATH --top N]: a clean folder of same-size RGB PNGs for
dataset=imagefolder, with a report of what was skipped (corrupt, too small, grey) and of how many
images had transparent pixels (composited onto --background). --classify sorts the images into class folders with a pretrained
torchvision classifier, so that dataset.labels=folders gives a conditional data set."""
from __future__ import annotations

import argparse
from pathlib import Path

from ganlab.cli.errors import command
from ganlab.data.prepare import BACKGROUND, CROPS, classifier, classify, prepare
from ganlab.errors import user_input
from ganlab.train.hardware import Hardware


@command("ganlab-prepare")
def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="ganlab-prepare", description=__doc__)
    p.add_argument("src", type=Path, help="a folder of images (searched recursively)")
    p.add_argument("dst", type=Path, help="the new folder (must not exist, or be empty)")
    p.add_argument("--size", type=int, required=True, help="output side in pixels")
    p.add_argument("--crop", choices=CROPS, default="center", help="center: square centre crop; stretch: resize the whole image")
    p.add_argument("--background", default=BACKGROUND,
                   help=f"what shows through transparent pixels: white, black or R,G,B (default {BACKGROUND})")
    p.add_argument("--allow-grey", action="store_true", help="keep greyscale images (converted to RGB)")
    p.add_argument("--classify", metavar="MODEL", help="a torchvision ImageNet classifier, e.g. resnet50")
    p.add_argument("--weights", help="its weights file (default: torch.hub's cache, or a download)")
    p.add_argument("--top", type=int, default=0, help="keep only the N most frequent classes (0: all)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="auto")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    a = p.parse_args(argv)
    if a.top < 0:
        p.error(f"--top must be >= 0, got {a.top}")
    if (a.weights or a.top) and not a.classify:
        p.error("--weights and --top need --classify MODEL")
    with user_input():
        net = classifier(a.classify, a.weights) if a.classify else None   # fail before any work
        written, skipped, transparent = prepare(a.src, a.dst, a.size, a.crop, a.allow_grey, progress=not a.quiet,
                                                background=a.background)
    reasons = ", ".join(f"{n} {why}" for why, n in sorted(skipped.items())) or "none"
    print(f"wrote {len(written)} {a.size}x{a.size} RGB PNGs to {a.dst}; skipped: {reasons}; "
          f"{transparent} had transparent pixels, composited onto {a.background}")
    if net is not None:
        device = Hardware.resolve(a.device).device
        per_class, dropped = classify(written, a.dst, *net, top=a.top, batch_size=a.batch_size, device=device,
                                      progress=not a.quiet)
        print(f"sorted into {len(per_class)} class folders by {a.classify}"
              + (f" (the top {a.top}; {dropped} images of other classes dropped)" if a.top else "") + ":")
        for name, n in per_class.items():
            print(f"  {name}: {n}")


if __name__ == "__main__":
    main()
