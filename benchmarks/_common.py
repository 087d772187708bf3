"""Helpers shared by the benchmark scripts (not part of veil).

The machine's CPU name, box matching and size buckets (used by eval_detectors.py and recall.py), the
annotated-image sets, the "scene" video built from them (each image held for a
few frames under a slow zoom and pan, ground truth transformed per frame; used
by speed.py --make-clip and recall.py --video), and deface in its own virtual
environment (benchmarks/.venv-deface, never the project's).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
VIDEOS = DATA / "videos"
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
HEIGHT_BUCKETS: tuple[tuple[float, float], ...] = ((0, 8), (8, 16), (16, 32), (32, 64), (64, 1e9))
DEFACE_VERSION = "1.5.0"
DEFACE_ENV = ROOT / "benchmarks" / ".venv-deface"


def cpu_model() -> str:
    """The CPU's model name as /proc/cpuinfo gives it (the platform's guess elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def bucket_names(buckets: tuple[tuple[float, float], ...] = HEIGHT_BUCKETS) -> list[str]:
    return [f"<{hi:g}" if lo == 0 else (f">={lo:g}" if hi > 1e8 else f"{lo:g}-{hi:g}") for lo, hi in buckets]


def bucket_of(heights: np.ndarray, buckets: tuple[tuple[float, float], ...] = HEIGHT_BUCKETS) -> np.ndarray:
    """Index into ``buckets`` (default HEIGHT_BUCKETS) for each box height (lower bound inclusive)."""
    return np.searchsorted([b[1] for b in buckets], np.asarray(heights, np.float64), side="right")


def clip_paths(folder: Path = VIDEOS) -> list[Path]:
    """The video files of ``folder`` (default: the dev clips), by name."""
    clips = sorted(p for p in folder.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if not clips:
        raise SystemExit(f"no video files in {folder}")
    return clips


def veil_command(clip: Path, output: Path, detections: Path, *extra: str) -> list[str]:
    """``veil anonymize CLIP -o OUTPUT --detections DETECTIONS --quiet EXTRA...`` with this interpreter."""
    return [
        sys.executable, "-m", "veil", "anonymize", str(clip), "-o", str(output),
        "--detections", str(detections), "--quiet", *extra,
    ]  # fmt: skip


def count_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(container.streams.video[0]))


def run_process(command: list[str]) -> tuple[float, float, float, str]:
    """Run ``command``; return (wall seconds, CPU seconds, peak RSS in MB, stdout). Raises on failure.

    From wait4: CPU is user plus system time of every thread of the process and of the children it
    waited for; peak RSS is ru_maxrss, the largest of the process and those children.
    """
    start = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if child.returncode != 0:
        raise SystemExit(f"{command[0]} ... failed ({child.returncode}):\n{stderr[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, stdout


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def match(dets: np.ndarray, scores: np.ndarray, gts: np.ndarray, thr: float) -> tuple[np.ndarray, np.ndarray]:
    """Greedy one-to-one matching, best detection first: (gt matched?, det matched?)."""
    gt_hit = np.zeros(len(gts), bool)
    det_hit = np.zeros(len(dets), bool)
    ious = iou_matrix(dets, gts)
    for d in np.argsort(-scores):
        if len(gts) == 0:
            break
        cand = np.where(gt_hit, -1.0, ious[d])
        g = int(np.argmax(cand))
        if cand[g] >= thr:
            gt_hit[g] = det_hit[d] = True
    return gt_hit, det_hit


def read_rgb(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SystemExit(f"cannot read {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


# -- annotated sets ----------------------------------------------------------------


@dataclass
class Item:
    """One annotated image: valid boxes (scored), ignored boxes (WIDER ``invalid``)."""

    path: Path
    subset: str
    exhaustive: bool
    width: int
    height: int
    boxes: np.ndarray  # (n, 4) float32 x1 y1 x2 y2, valid
    classes: list[str]
    ignored: np.ndarray = field(default_factory=lambda: np.zeros((0, 4), np.float32))


def load_set(gt_path: Path, limit: int | None = None) -> list[Item]:
    """Read a gt.json; ``limit`` keeps that many images spread evenly over the set."""
    images = json.loads(gt_path.read_text())["images"]
    if limit is not None and limit < len(images):
        picks = np.linspace(0, len(images) - 1, limit).round().astype(int)
        images = [images[i] for i in sorted(set(picks.tolist()))]
    items = []
    for entry in images:
        valid = [b for b in entry["boxes"] if not b[5].get("invalid") and not b[5].get("degenerate")]
        bad = [b for b in entry["boxes"] if b[5].get("invalid") or b[5].get("degenerate")]
        items.append(
            Item(
                path=gt_path.parent / entry["file"],
                subset=entry.get("subset", ""),
                exhaustive=bool(entry.get("exhaustive", True)),
                width=int(entry["width"]),
                height=int(entry["height"]),
                boxes=np.array([b[:4] for b in valid], np.float32).reshape(-1, 4),
                classes=[b[4] for b in valid],
                ignored=np.array([b[:4] for b in bad], np.float32).reshape(-1, 4),
            )
        )
    return items


# -- scene video -------------------------------------------------------------------


@dataclass
class SceneFrame:
    item: int  # index into the item list
    matrix: np.ndarray  # 2x3 affine, image pixels -> frame pixels


def scene_plan(
    items: list[Item], size: tuple[int, int], hold: int, zoom: float = 0.04, pan: float = 0.01
) -> list[SceneFrame]:
    """Each image fitted into the frame (letterboxed), held ``hold`` frames while the
    "camera" zooms in by ``zoom`` (fraction) and pans by ``pan`` of the frame width.
    """
    width, height = size
    plan = []
    for index, item in enumerate(items):
        fit = min(width / item.width, height / item.height)
        for k in range(hold):
            t = k / max(hold - 1, 1)
            s = fit * (1 + zoom * t)
            dx = (width - item.width * s) / 2 + pan * width * (t - 0.5) * (1 if index % 2 else -1)
            dy = (height - item.height * s) / 2 + pan * height * (t - 0.5)
            plan.append(SceneFrame(index, np.array([[s, 0, dx], [0, s, dy]], np.float64)))
    return plan


def transform_boxes(boxes: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    s, dx, dy = matrix[0, 0], matrix[0, 2], matrix[1, 2]
    out = boxes.astype(np.float64).copy()
    out[:, 0::2] = out[:, 0::2] * s + dx
    out[:, 1::2] = out[:, 1::2] * s + dy
    return out


def write_scene(
    path: Path, items: list[Item], plan: list[SceneFrame], size: tuple[int, int], rate: int = 25, crf: int = 16
) -> Path:
    """Render the plan as H.264 (yuv420p, ``rate`` fps, CRF ``crf``) at ``path``."""
    width, height = size
    out = av.open(str(path), mode="w")
    stream = out.add_stream("libx264", rate=Fraction(rate))
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = {"crf": str(crf), "preset": "veryfast"}
    cache: dict[int, np.ndarray] = {}
    for frame_index, step in enumerate(plan):
        if step.item not in cache:
            cache.clear()
            cache[step.item] = read_rgb(items[step.item].path)
        image = cv2.warpAffine(
            cache[step.item], step.matrix, (width, height), flags=cv2.INTER_LINEAR, borderValue=(0, 0, 0)
        )
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = frame_index
        out.mux(stream.encode(frame))
    out.mux(stream.encode())
    out.close()
    return path


def decode_gray(path: Path):  # type: ignore[no-untyped-def]
    """Yield each frame of ``path`` as a float32 luma image, in presentation order."""
    with av.open(str(path)) as container:
        for frame in container.decode(container.streams.video[0]):
            yield frame.to_ndarray(format="gray").astype(np.float32)


def changed_pixels(ref: np.ndarray, out: np.ndarray, change: float) -> np.ndarray:
    """Where ``out`` differs from ``ref`` (float luma images) by more than ``change`` grey levels
    after a 1-px Gaussian (which leaves most coding noise below 12 levels)."""
    ref_s = cv2.GaussianBlur(ref, (0, 0), 1.0)
    return np.asarray(np.abs(cv2.GaussianBlur(out, (0, 0), 1.0) - ref_s) > change)


# -- deface, in its own environment ------------------------------------------------


def deface_command() -> list[str]:
    """benchmarks/.venv-deface/bin/deface, creating that environment on first use."""
    exe = DEFACE_ENV / "bin" / "deface"
    if not exe.exists():
        print(f"creating {DEFACE_ENV} with deface=={DEFACE_VERSION} (once)", file=sys.stderr, flush=True)
        subprocess.run(["python3.11", "-m", "venv", str(DEFACE_ENV)], check=True)
        subprocess.run([str(DEFACE_ENV / "bin" / "pip"), "install", "-q", f"deface=={DEFACE_VERSION}"], check=True)
    return [str(exe)]
