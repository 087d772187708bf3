"""Recall of faces and plates: veil's detectors on images, and any tool as a black box on video.

    .venv/bin/python benchmarks/recall.py images [--sets faces plates] [--iou 0.5] [--limit N]
    .venv/bin/python benchmarks/recall.py video  [--tools veil deface] [--sets faces plates]
                                                 [--size 960x540] [--hold 5] [--limit N]

``images``: veil's default detectors (``veil.detect.build_detectors``, default
thresholds) on every image of ``../shared/data/{faces,plates}/gt.json``. Boxes are
matched one-to-one, best score first, at IoU >= --iou (0.5; use 0.3 for tight boxes
such as dlib's). Recall by class and by ground-truth box height in the stored image
(<8, 8-16, 16-32, 32-64, >=64 px). WIDER boxes tagged ``invalid`` (and zero-size
ones) are not scored, and a detection matching one is neither a hit nor a false
positive. Precision counts only images with ``exhaustive: true`` (the plate set has
none, so no plate precision).

``video``: the black-box rule, the same for every tool. Per set, the annotated
images are assembled into one H.264 video (each image letterboxed into --size,
held --hold frames under a slow zoom (+4 %) and pan (1 % of the frame); the
ground-truth boxes are transformed with each frame), the video is re-encoded once
plainly (veil.media VideoReader -> VideoWriter, veil's default encoder: the
reference), and each tool runs on it as a subprocess. Then, per ground-truth box
and frame, inside the ellipse inscribed in the box:

    detail(I)  = I - GaussianBlur(I, sigma = max(0.7, box height / 12))   (luma)
    retained   = <detail(out), detail(ref)> / <detail(ref), detail(ref)>

``retained`` is the share of the reference's fine detail (scale below about a
twelfth of the face: eyes, mouth, characters) still present, in phase, in the
tool's output: ~1 untouched (a re-encode leaves it), ~0 under a strong blur, a
mosaic with blocks larger than that scale, or a solid fill. A box is covered in a
frame when retained < --retained (0.5: `recall.py calibrate` shows an untouched face
scores about 0.9 or more (as does deface --replacewith none on video, --tools
deface-none), veil's 8-block mosaic 0.17-0.27 median and at most ~0.4 at p90, a
Gaussian blur of sigma h/6 under 0.1; 0.5 splits untouched from the weakest real
cover of either tool); a box counts as covered in an
image if it is covered in every frame where at least half of it is in the picture.
Boxes whose reference has almost no detail (RMS of detail < 2 grey levels:
flat or blurred in the source) cannot be judged and are left out (counted).
Recall is reported by box height in the video (what the tool sees) and in the
stored image.

"Changed away from faces": in frames of exhaustive images, the share of the
picture (inside the image, outside every ground-truth box grown to twice its
size, invalid ones included) where the tool's output differs from the reference
by more than 12 grey levels after a 1-px Gaussian: how much more than the faces a
tool covers. Plates: the set labels one plate per image, so this number also
counts legitimately covered unlabelled plates.

deface runs from benchmarks/.venv-deface (created on first use; faces only).
Defaults are sized to finish in about 10 minutes for veil on 2 cores: the video
is 1024x576, not 1080p (deface default runs at full frame, ~2.7 fps at 1080p; veil
about 0.7 fps at this size on 2 cores today), and --limit keeps that many images per
set, spread evenly (default: 30 faces, 30 plates; 0 = all).
Writes JSON (default benchmarks/results/recall_{images,video}.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    DATA,
    HEIGHT_BUCKETS,
    ROOT,
    bucket_names,
    bucket_of,
    changed_pixels,
    decode_gray,
    deface_command,
    iou_matrix,
    load_set,
    match,
    read_rgb,
    scene_plan,
    transform_boxes,
    write_scene,
)

SETS = {"faces": DATA / "faces" / "gt.json", "plates": DATA / "plates" / "gt.json"}
NB = len(HEIGHT_BUCKETS)


def fmt_buckets(hit: np.ndarray, total: np.ndarray) -> str:
    return " | ".join(f"{h / n:.3f} ({int(h)}/{int(n)})" if n else "-" for h, n in zip(hit, total, strict=False))


# -- image level -----------------------------------------------------------------------


def run_images(args: argparse.Namespace) -> dict:
    sys.path.insert(0, str(ROOT / "src"))
    from veil.detect import DetectorSettings, build_detectors

    detectors = {d.class_name: d for d in build_detectors(DetectorSettings(threads=args.threads))}
    results = {}
    for name in args.sets:
        items = load_set(SETS[name], args.limit)
        hit = {c: np.zeros(NB) for c in ("face", "plate")}
        total = {c: np.zeros(NB) for c in ("face", "plate")}
        tp = dict.fromkeys(("face", "plate"), 0)
        fp = dict.fromkeys(("face", "plate"), 0)
        exhaustive = 0
        start = time.perf_counter()
        for item in items:
            image = read_rgb(item.path)
            exhaustive += item.exhaustive
            for cls in sorted(set(item.classes)):
                gts = item.boxes[[c == cls for c in item.classes]]
                ignored = item.ignored
                det = detectors[cls].detect(image)
                gt_hit, det_hit = match(det.boxes, det.scores, gts, args.iou)
                buckets = bucket_of(gts[:, 3] - gts[:, 1])
                total[cls] += np.bincount(buckets, minlength=NB)
                hit[cls] += np.bincount(buckets[gt_hit], minlength=NB)
                if item.exhaustive:
                    free = ~det_hit
                    if len(ignored) and len(det.boxes):
                        free &= iou_matrix(det.boxes, ignored).max(axis=1) < args.iou
                    tp[cls] += int(det_hit.sum())
                    fp[cls] += int(free.sum())
        seconds = time.perf_counter() - start
        print(
            f"\n## {name}: {len(items)} images ({exhaustive} exhaustive), veil default detectors, "
            f"IoU {args.iou}, {seconds:.0f} s"
        )
        print(f"| class | recall | {' | '.join(bucket_names())} | precision (exhaustive imgs) |")
        print("|" + "---|" * (3 + NB))
        out = {}
        for cls in ("face", "plate"):
            if not total[cls].sum():
                continue
            precision = tp[cls] / (tp[cls] + fp[cls]) if exhaustive and tp[cls] + fp[cls] else None
            print(
                f"| {cls} | {hit[cls].sum() / total[cls].sum():.3f} | {fmt_buckets(hit[cls], total[cls])} | "
                f"{'-' if precision is None else f'{precision:.3f} (fp {fp[cls]})'} |"
            )
            out[cls] = {
                "recall": hit[cls].sum() / total[cls].sum(),
                "hit": hit[cls].tolist(),
                "total": total[cls].tolist(),
                "precision": precision,
                "tp": tp[cls],
                "fp": fp[cls],
            }
        results[name] = {"images": len(items), "exhaustive_images": exhaustive, "iou": args.iou, "classes": out}
    return results


# -- black box on video ----------------------------------------------------------------

REENCODE = """
import sys
from veil.media import EncoderSettings, VideoReader, VideoWriter, probe
info = probe(sys.argv[1])
with VideoReader(sys.argv[1], info) as reader, VideoWriter(sys.argv[2], info, EncoderSettings()) as writer:
    for frame in reader:
        writer.write(frame.image, frame.pts)
"""


def tool_command(tool: str, src: Path, dst: Path, veil_args: str = "") -> list[str]:
    if tool == "veil":
        return [sys.executable, "-m", "veil", "anonymize", str(src), "-o", str(dst), "--quiet", *shlex.split(veil_args)]
    if tool == "deface":
        return [*deface_command(), str(src), "-o", str(dst)]
    if tool == "deface-640x360":
        return [*deface_command(), str(src), "-o", str(dst), "--scale", "640x360"]
    if tool == "deface-none":  # calibration: deface's encoder, nothing covered
        return [*deface_command(), str(src), "-o", str(dst), "--replacewith", "none"]
    raise SystemExit(f"unknown tool {tool}")


def retained_detail(ref: np.ndarray, outs: list[np.ndarray], box: np.ndarray) -> tuple[float | None, list[float]]:
    """(RMS of the reference's detail, retained share per output) inside the box's ellipse."""
    height, width = ref.shape
    x1, y1, x2, y2 = box
    sigma = max(0.7, (y2 - y1) / 12)
    margin = int(np.ceil(3 * sigma))
    bx1, by1, bx2, by2 = int(np.floor(x1)), int(np.floor(y1)), int(np.ceil(x2)), int(np.ceil(y2))
    cx1, cy1, cx2, cy2 = max(bx1 - margin, 0), max(by1 - margin, 0), min(bx2 + margin, width), min(by2 + margin, height)
    yy, xx = np.mgrid[cy1:cy2, cx1:cx2]
    ry, rx = max((y2 - y1) / 2, 0.5), max((x2 - x1) / 2, 0.5)
    mask = ((yy + 0.5 - (y1 + y2) / 2) / ry) ** 2 + ((xx + 0.5 - (x1 + x2) / 2) / rx) ** 2 <= 1.0
    if mask.sum() < 4:
        return None, []

    def detail(image: np.ndarray) -> np.ndarray:
        crop = image[cy1:cy2, cx1:cx2]
        return (crop - cv2.GaussianBlur(crop, (0, 0), sigma))[mask]

    d_ref = detail(ref)
    energy = float(np.dot(d_ref, d_ref))
    rms = float(np.sqrt(energy / d_ref.size))
    return rms, [float(np.dot(detail(o), d_ref) / energy) if energy > 0 else 1.0 for o in outs]


def run_tool(tool: str, src: Path, dst: Path, veil_args: str = "") -> float:
    start = time.perf_counter()
    child = subprocess.run(tool_command(tool, src, dst, veil_args), capture_output=True, text=True)
    if child.returncode != 0:
        raise SystemExit(f"{tool} failed ({child.returncode}):\n{child.stderr[-2000:]}")
    return time.perf_counter() - start


def run_video(args: argparse.Namespace) -> dict:
    width, height = (int(v) for v in args.size.lower().split("x"))
    results: dict = {"size": [width, height], "hold": args.hold, "retained_threshold": args.retained, "sets": {}}
    for name in args.sets:
        limit = None if args.limit == 0 else args.limit if args.limit is not None else 30
        items = load_set(SETS[name], limit)
        plan = scene_plan(items, (width, height), args.hold)
        tools = [t for t in args.tools if name == "faces" or t == "veil"]  # deface covers faces only
        with tempfile.TemporaryDirectory() as folder:
            folder_path = Path(folder)
            src = write_scene(folder_path / "scene.mp4", items, plan, (width, height), rate=25, crf=16)
            ref = folder_path / "reference.mp4"
            subprocess.run([sys.executable, "-c", REENCODE, str(src), str(ref)], check=True)
            walls = {}
            for tool in tools:
                walls[tool] = run_tool(tool, src, folder_path / f"{tool}.mp4", args.veil_args)
                print(
                    f"[{name}] {tool}: {len(plan)} frames {width}x{height} in {walls[tool]:.0f} s "
                    f"({len(plan) / walls[tool]:.1f} fps)",
                    flush=True,
                )
            per = judge(items, plan, ref, [folder_path / f"{t}.mp4" for t in tools], len(tools), args)
        results["sets"][name] = summarize(name, items, tools, per, walls, len(plan), args)
    return results


def judge(items, plan, ref_path: Path, out_paths: list[Path], n_tools: int, args) -> dict:  # type: ignore[no-untyped-def]
    """Per item and box: covered in every judged frame? and per-frame changed area away from boxes."""
    n_boxes = [len(it.boxes) for it in items]
    covered = [np.ones((n_tools, n), bool) for n in n_boxes]
    judged = [np.zeros(n, bool) for n in n_boxes]
    rms_max = [np.zeros(n) for n in n_boxes]
    video_h = [np.zeros(n) for n in n_boxes]
    retained_all: list[list[float]] = [[] for _ in range(n_tools)]
    changed: list[list[float]] = [[] for _ in range(n_tools)]
    streams = [decode_gray(ref_path)] + [decode_gray(p) for p in out_paths]
    for step in plan:
        frames = [next(s) for s in streams]
        ref, outs = frames[0], frames[1:]
        # a tool may pad or scale to other dimensions (imageio, under deface, rounds to
        # multiples of 16 by scaling): judge its frames scaled back to the reference's
        outs = [
            o if o.shape == ref.shape else cv2.resize(o, ref.shape[::-1], interpolation=cv2.INTER_AREA) for o in outs
        ]
        item = items[step.item]
        h, w = ref.shape
        boxes = transform_boxes(item.boxes, step.matrix)
        for b, box in enumerate(boxes):
            area = (box[2] - box[0]) * (box[3] - box[1])
            vis = (min(box[2], w) - max(box[0], 0)) * (min(box[3], h) - max(box[1], 0))
            if area <= 0 or vis < 0.5 * area:
                continue
            if video_h[step.item][b] == 0:
                video_h[step.item][b] = box[3] - box[1]
            rms, kept = retained_detail(ref, outs, box)
            if rms is None:
                continue
            rms_max[step.item][b] = max(rms_max[step.item][b], rms)
            if rms < args.min_detail:
                continue
            judged[step.item][b] = True
            for t, r in enumerate(kept):
                retained_all[t].append(r)
                if r >= args.retained:
                    covered[step.item][t, b] = False
        if item.exhaustive or args.area_all:
            far = np.zeros((h, w), bool)
            image_rect = transform_boxes(np.array([[0, 0, item.width, item.height]], np.float32), step.matrix)[0]
            ax1, ay1, ax2, ay2 = (round(v) for v in image_rect)
            far[max(ay1, 0) : min(ay2, h), max(ax1, 0) : min(ax2, w)] = True
            grown = np.concatenate([boxes, transform_boxes(item.ignored, step.matrix)])
            for x1, y1, x2, y2 in grown:
                bw, bh = x2 - x1, y2 - y1
                far[
                    max(int(y1 - bh / 2), 0) : max(int(np.ceil(y2 + bh / 2)), 0),
                    max(int(x1 - bw / 2), 0) : max(int(np.ceil(x2 + bw / 2)), 0),
                ] = False
            if far.any():
                for t, out in enumerate(outs):
                    diff = changed_pixels(ref, out, args.change)
                    changed[t].append(float((diff & far).sum() / (h * w)))
    for s in streams:
        for _ in s:
            raise SystemExit("an output has more frames than the scene")
    return {
        "covered": covered,
        "judged": judged,
        "rms": rms_max,
        "video_h": video_h,
        "retained": retained_all,
        "changed": changed,
    }


def summarize(name, items, tools, per, walls, frames, args) -> dict:  # type: ignore[no-untyped-def]
    judged = np.concatenate(per["judged"])
    stored_h = np.concatenate([it.boxes[:, 3] - it.boxes[:, 1] for it in items])
    video_h = np.concatenate(per["video_h"])
    n_all = len(judged)
    print(
        f"\n## {name}, black box: {len(items)} images -> {frames} frames at {args.size}, hold {args.hold}; "
        f"{int(judged.sum())}/{n_all} boxes judged "
        f"({n_all - int(judged.sum())} left out: flat reference detail or out of picture); "
        f"covered = retained detail < {args.retained} in every frame"
    )
    out = {"images": len(items), "frames": frames, "boxes": n_all, "judged": int(judged.sum()), "tools": {}}
    for label, heights in (("video", video_h), ("stored image", stored_h)):
        buckets = bucket_of(heights)
        total = np.bincount(buckets[judged], minlength=NB)
        print(f"\nrecall by box height in the {label} (px)")
        print(f"| tool | recall | {' | '.join(bucket_names())} |")
        print("|" + "---|" * (2 + NB))
        for t, tool in enumerate(tools):
            cov = np.concatenate([c[t] for c in per["covered"]]) & judged
            hit = np.bincount(buckets[cov], minlength=NB)
            print(f"| {tool} | {cov.sum() / max(judged.sum(), 1):.3f} | {fmt_buckets(hit, total)} |")
            entry = out["tools"].setdefault(
                tool, {"wall_s": round(walls[tool], 1), "fps": round(frames / walls[tool], 2)}
            )
            entry["recall"] = float(cov.sum() / max(judged.sum(), 1))
            entry[f"by_{label.split()[0]}_height"] = {"hit": hit.tolist(), "total": total.tolist()}
    print(
        "\n| tool | fps | retained detail p10 / p50 / p90 (all judged box-frames) "
        "| changed away from boxes: mean / p95 / max of frames |"
    )
    print("|---|---|---|---|")
    for t, tool in enumerate(tools):
        r = np.array(per["retained"][t]) if per["retained"][t] else np.zeros(1)
        c = np.array(per["changed"][t]) if per["changed"][t] else np.zeros(1)
        p = np.percentile(r, [10, 50, 90])
        area = (
            f"{c.mean():.2%} / {np.percentile(c, 95):.2%} / {c.max():.2%}"
            if per["changed"][t]
            else "- (no exhaustive image; --area-all to measure anyway)"
        )
        print(f"| {tool} | {frames / walls[tool]:.2f} | {p[0]:.2f} / {p[1]:.2f} / {p[2]:.2f} | {area} |")
        out["tools"][tool].update(
            {
                "retained_p10_p50_p90": [round(float(v), 3) for v in p],
                "changed_mean": float(c.mean()),
                "changed_p95": float(np.percentile(c, 95)),
                "changed_max": float(c.max()),
                "changed_frames": len(per["changed"][t]),
            }
        )
    return out


# -- calibration of the retained-detail threshold ---------------------------------------


def run_calibrate(args: argparse.Namespace) -> dict:
    """Retained detail of known covers on real faces (the dlib set, large tight boxes)
    scaled to a given height: veil's default mosaic (padding 0.2, at least 12 px,
    8 blocks), a Gaussian blur of sigma = h/6 and h/12. Untouched faces: see
    `recall.py video --tools deface-none` (deface's encoder, nothing covered)."""
    sys.path.insert(0, str(ROOT / "src"))
    from veil.redact import make_redactor
    from veil.redact.styles import expand_boxes

    items = [i for i in load_set(SETS["faces"]) if not i.exhaustive]
    mosaic = make_redactor("mosaic")
    print("\n## retained detail (p50 / p90 over the dlib faces) by face height in px")
    print("| height | veil mosaic (default) | blur sigma h/6 | blur sigma h/12 |")
    print("|---|---|---|---|")
    out = {}
    for target in (10, 14, 20, 28, 40, 64):
        values: list[list[float]] = [[], [], []]
        for item in items:
            image = read_rgb(item.path)
            for box in item.boxes:
                scale = target / (box[3] - box[1])
                small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
                b = box * scale
                grown = expand_boxes(b[None].astype(np.float32), 0.2, 12, (small.shape[1], small.shape[0]))
                gray = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
                covered = cv2.cvtColor(mosaic.apply(small.copy(), grown), cv2.COLOR_RGB2GRAY).astype(np.float32)
                outs = [
                    covered,
                    cv2.GaussianBlur(gray, (0, 0), target / 6),
                    cv2.GaussianBlur(gray, (0, 0), target / 12),
                ]
                rms, kept = retained_detail(gray, outs, b)
                if rms is not None and rms >= 2.0:
                    for v, k in zip(values, kept, strict=False):
                        v.append(k)
        cells = [f"{np.percentile(v, 50):.2f} / {np.percentile(v, 90):.2f}" if v else "-" for v in values]
        print(f"| {target} ({len(values[0])} faces) | " + " | ".join(cells) + " |")
        out[target] = [[float(np.percentile(v, q)) for q in (10, 50, 90)] if v else None for v in values]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    images = sub.add_parser("images", help="veil's detectors on the annotated images")
    images.add_argument("--iou", type=float, default=0.5)
    images.add_argument("--threads", type=int, default=None)
    video = sub.add_parser("video", help="tools as black boxes on a video built from the images")
    video.add_argument(
        "--tools", nargs="+", default=["veil", "deface"], choices=["veil", "deface", "deface-640x360", "deface-none"]
    )
    video.add_argument(
        "--size",
        default="1024x576",
        help=(
            "frame size of the built video "
            "(default 1024x576: multiples of 16, which deface's writer needs to avoid rescaling)"
        ),
    )
    video.add_argument("--hold", type=int, default=5, help="frames per image")
    video.add_argument(
        "--veil-args", default="", help="extra flags for `veil anonymize` (default: none, veil's defaults)"
    )
    video.add_argument(
        "--retained", type=float, default=0.5, help="a box is covered in a frame below this retained-detail share"
    )
    video.add_argument(
        "--min-detail",
        type=float,
        default=2.0,
        help="skip boxes whose reference detail RMS is below this (grey levels)",
    )
    video.add_argument(
        "--change", type=float, default=12.0, help="grey levels of difference that count as a changed pixel"
    )
    video.add_argument("--area-all", action="store_true", help="measure changed area on non-exhaustive images too")
    calibrate = sub.add_parser("calibrate", help="retained detail of known covers, to place --retained")
    calibrate.add_argument("--json", type=Path, default=None)
    for p in (images, video):
        p.add_argument("--sets", nargs="+", default=["faces", "plates"], choices=sorted(SETS))
        p.add_argument(
            "--limit",
            type=int,
            default=None,
            help="images per set, spread evenly (video default 30; images default all)",
        )
        p.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    print(
        f"recall.py {args.mode}: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores",
        flush=True,
    )
    runner = {"images": run_images, "video": run_video, "calibrate": run_calibrate}[args.mode]
    results = runner(args)
    target = args.json or ROOT / "benchmarks" / "results" / f"recall_{args.mode}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(
        json.dumps(
            {"args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "results": results},
            indent=2,
            default=float,
        )
        + "\n"
    )
    print(f"\nwrote {target}")


if __name__ == "__main__":
    main()
