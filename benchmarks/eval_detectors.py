"""Recall and precision of veil's face and plate detectors on the dev set.

    .venv/bin/python benchmarks/eval_detectors.py [--data ../shared/data] [--threads 2]

Faces: every box of ``faces/gt.json`` except WIDER's ``invalid`` ones, matched
greedily (best score first) at IoU >= 0.4; recall by box height. Detections that
match an ``invalid`` box are ignored; other unmatched detections count as false
positives only on ``exhaustive`` images. CenterFace runs at several input scales
(1 = native; 2 = the image upscaled 2x; 0.67 = what ``max_side=1280`` does to a
1080p frame). Plates: the one labelled plate per image, IoU >= 0.3, recall only
(the set is not exhaustive), plus how many boxes per image and how much of the
picture the unmatched ones cover. The model runs once per image at the lowest
threshold; higher thresholds filter its output (greedy NMS makes that identical
to running at the higher threshold).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from veil.detect import CenterFaceDetector, YoloPlateDetector

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import HEIGHT_BUCKETS, iou_matrix, match, read_rgb

FACE_THRESHOLDS = (0.1, 0.2, 0.3, 0.5)
PLATE_THRESHOLDS = (0.1, 0.25, 0.5)


def detect_scaled(detector, image: np.ndarray, scale: float):
    if scale == 1.0:
        d = detector.detect(image)
        return d.boxes, d.scores
    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_LINEAR if scale > 1 else cv2.INTER_AREA
    d = detector.detect(cv2.resize(image, size, interpolation=interp))
    boxes = d.boxes.copy()
    boxes[:, 0::2] *= w / size[0]
    boxes[:, 1::2] *= h / size[1]
    return boxes, d.scores


def eval_faces(data: Path, threads: int, scales: list[float]) -> None:
    gt = json.loads((data / "faces" / "gt.json").read_text())["images"]
    detector = CenterFaceDetector(threshold=min(FACE_THRESHOLDS), max_side=None, threads=threads)
    for scale in scales:
        stats = {
            t: {"hit": np.zeros(len(HEIGHT_BUCKETS)), "tp": 0, "fp": 0, "fp_imgs": 0, "fp_area": []}
            for t in FACE_THRESHOLDS
        }
        total = np.zeros(len(HEIGHT_BUCKETS))
        n_exh = 0
        seconds = 0.0
        for item in gt:
            image = read_rgb(data / "faces" / item["file"])
            boxes = [b for b in item["boxes"] if b[4] == "face"]
            valid = np.array([b[:4] for b in boxes if not b[5].get("invalid")], np.float32).reshape(-1, 4)
            invalid = np.array([b[:4] for b in boxes if b[5].get("invalid")], np.float32).reshape(-1, 4)
            heights = valid[:, 3] - valid[:, 1]
            bucket = np.searchsorted([b[1] for b in HEIGHT_BUCKETS], heights, side="right")
            total += np.bincount(bucket, minlength=len(HEIGHT_BUCKETS))
            t0 = time.perf_counter()
            det_boxes, det_scores = detect_scaled(detector, image, scale)
            seconds += time.perf_counter() - t0
            n_exh += bool(item["exhaustive"])
            for t, s in stats.items():
                keep = det_scores >= t
                db, ds = det_boxes[keep], det_scores[keep]
                gt_hit, det_hit = match(db, ds, valid, 0.4)
                s["hit"] += np.bincount(bucket[gt_hit], minlength=len(HEIGHT_BUCKETS))
                if item["exhaustive"]:
                    free = ~det_hit
                    if len(invalid):
                        free &= iou_matrix(db, invalid).max(axis=1) < 0.4
                    s["tp"] += int(det_hit.sum())
                    s["fp"] += int(free.sum())
                    s["fp_imgs"] += bool(free.any())
                    mask = np.zeros(image.shape[:2], bool)
                    for x1, y1, x2, y2 in db[free].astype(int):
                        mask[y1:y2, x1:x2] = True
                    s["fp_area"].append(mask.mean())
        ms = 1000 * seconds / len(gt)
        print(
            f"\n## Faces, CenterFace at {scale:g}x input "
            f"({len(gt)} images, {int(total.sum())} faces, {ms:.0f} ms/image, threads={threads})"
        )
        heads = " | ".join(f"h {lo:g}-{hi:g}" if hi < 1e8 else f"h >={lo:g}" for lo, hi in HEIGHT_BUCKETS)
        print(
            f"| thr | recall | {heads} | precision (exhaustive, {n_exh} imgs) | FP/img | imgs with FP | max FP area |"
        )
        print("|" + "---|" * (6 + len(HEIGHT_BUCKETS)))
        for t, s in stats.items():
            per = " | ".join(f"{h / max(n, 1):.3f} ({int(n)})" for h, n in zip(s["hit"], total, strict=False))
            prec = s["tp"] / max(s["tp"] + s["fp"], 1)
            print(
                f"| {t} | {s['hit'].sum() / total.sum():.3f} | {per} | {prec:.3f} | {s['fp'] / n_exh:.2f} "
                f"| {s['fp_imgs']} | {max(s['fp_area']):.1%} |"
            )


def eval_plates(data: Path, threads: int) -> None:
    gt = json.loads((data / "plates" / "gt.json").read_text())["images"]
    detector = YoloPlateDetector(threshold=min(PLATE_THRESHOLDS), threads=threads)
    stats = {t: {"hit": 0, "n_det": 0, "area": [], "by": {}} for t in PLATE_THRESHOLDS}
    seconds = 0.0
    for item in gt:
        image = read_rgb(data / "plates" / item["file"])
        plates = np.array([b[:4] for b in item["boxes"] if b[4] == "plate"], np.float32).reshape(-1, 4)
        t0 = time.perf_counter()
        d = detector.detect(image)
        seconds += time.perf_counter() - t0
        for t, s in stats.items():
            keep = d.scores >= t
            db, ds = d.boxes[keep], d.scores[keep]
            gt_hit, det_hit = match(db, ds, plates, 0.3)
            s["hit"] += int(gt_hit.sum())
            sub = s["by"].setdefault(item["subset"], [0, 0])
            sub[0] += int(gt_hit.sum())
            sub[1] += len(plates)
            s["n_det"] += len(db)
            mask = np.zeros(image.shape[:2], bool)
            for x1, y1, x2, y2 in db[~det_hit].astype(int):
                mask[y1:y2, x1:x2] = True
            s["area"].append(mask.mean())
    n = sum(len([b for b in i["boxes"] if b[4] == "plate"]) for i in gt)
    ms = 1000 * seconds / len(gt)
    print(f"\n## Plates, YOLOv8s-seg 640 ({len(gt)} images, {n} labelled plates, {ms:.0f} ms/image, threads={threads})")
    subsets = sorted(stats[PLATE_THRESHOLDS[0]]["by"])
    print(f"| thr | recall | {' | '.join(subsets)} | boxes/img | unmatched area mean | max |")
    print("|" + "---|" * (5 + len(subsets)))
    for t, s in stats.items():
        per = " | ".join(f"{h / m:.3f} ({m})" for h, m in (s["by"][k] for k in subsets))
        print(
            f"| {t} | {s['hit'] / n:.3f} | {per} | {s['n_det'] / len(gt):.2f} "
            f"| {np.mean(s['area']):.2%} | {max(s['area']):.1%} |"
        )


def eval_videos(data: Path, threads: int, step: int = 15) -> None:
    """Boxes per frame on the dev clips: the parking lot has no faces, the selfie no plates."""
    face = CenterFaceDetector(threshold=min(FACE_THRESHOLDS), max_side=None, threads=threads)
    plate = YoloPlateDetector(threshold=min(PLATE_THRESHOLDS), threads=threads)
    print(f"\n## Clips, every {step}th frame: frames with a box / mean boxes per frame / mean area covered")
    print("| clip | class | thr | frames with box | boxes/frame | area covered | max area |")
    print("|---|---|---|---|---|---|---|")
    for clip in sorted((data / "videos").glob("*.mp4")):
        capture = cv2.VideoCapture(str(clip))
        frames = []
        index = 0
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            if index % step == 0:
                frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            index += 1
        for detector, thresholds in ((face, FACE_THRESHOLDS), (plate, PLATE_THRESHOLDS)):
            results = [detector.detect(f) for f in frames]
            for t in thresholds:
                counts, areas = [], []
                for f, d in zip(frames, results, strict=False):
                    mask = np.zeros(f.shape[:2], bool)
                    for x1, y1, x2, y2 in d.boxes[d.scores >= t].astype(int):
                        mask[y1:y2, x1:x2] = True
                    counts.append(int((d.scores >= t).sum()))
                    areas.append(mask.mean())
                print(
                    f"| {clip.stem} | {detector.class_name} | {t} | {sum(c > 0 for c in counts)}/{len(frames)} "
                    f"| {np.mean(counts):.2f} | {np.mean(areas):.2%} | {max(areas):.1%} |"
                )


def time_frames(threads: int) -> None:
    print(f"\n## Per-frame time (ms, median of 5 after 1 warm-up, threads={threads})")
    rng = np.random.default_rng(0)
    print("| frame | face native | face max_side=1280 | face max_side=960 | plate |")
    print("|---|---|---|---|---|")
    detectors = {
        "native": CenterFaceDetector(max_side=None, threads=threads),
        "1280": CenterFaceDetector(max_side=1280, threads=threads),
        "960": CenterFaceDetector(max_side=960, threads=threads),
        "plate": YoloPlateDetector(threads=threads),
    }
    for w, h in ((640, 360), (1280, 720), (1920, 1080), (1080, 1920)):
        frame = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (0, 0), 3)
        row = []
        for det in detectors.values():
            det.detect(frame)
            times = []
            for _ in range(5):
                t0 = time.perf_counter()
                det.detect(frame)
                times.append(time.perf_counter() - t0)
            row.append(f"{1000 * np.median(times):.0f}")
        print(f"| {w}x{h} | " + " | ".join(row) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 2.0, 0.67])
    parser.add_argument(
        "--only",
        choices=["faces", "plates", "videos", "timing"],
        nargs="+",
        default=["faces", "plates", "videos", "timing"],
    )
    args = parser.parse_args()
    if "faces" in args.only:
        eval_faces(args.data, args.threads, args.scales)
    if "plates" in args.only:
        eval_plates(args.data, args.threads)
    if "videos" in args.only:
        eval_videos(args.data, args.threads)
    if "timing" in args.only:
        time_frames(args.threads)


if __name__ == "__main__":
    main()
