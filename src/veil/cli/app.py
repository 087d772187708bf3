"""The ``veil`` command: ``anonymize``, ``sample``, ``serve`` and ``users``."""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from veil.cli.exit_codes import exit_code
from veil.cli.fields import with_field_options
from veil.cli.inputs import expand_inputs, make_folder, plan_outputs
from veil.cli.progress import BatchProgress, should_show_bars
from veil.cli.serve import register as register_serve
from veil.cli.users import users_app
from veil.errors import ConfigError, VeilError
from veil.pipeline.heap import pin_malloc_thresholds
from veil.pipeline.options import AnonymizeOptions, anonymize_option_fields

if TYPE_CHECKING:
    from veil.parallel import Engine

app = typer.Typer(
    name="veil",
    help="Cover every face and licence plate in every frame of a video, on your own machine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # paragraphs of docstrings reflow instead of keeping their line breaks
)


def _fail(message: str, code: int) -> None:
    print(f"veil: error: {message}", file=sys.stderr)
    raise typer.Exit(code)


Inputs = Annotated[list[str], typer.Argument(help="Video files, folders (their video files) or glob patterns.")]
OutputFile = Annotated[
    Path | None,
    typer.Option("-o", "--output", help="Output file (one input only). Default: NAME.anonymized.EXT beside the input."),
]
OutputDir = Annotated[Path | None, typer.Option("--output-dir", help="Write each output as DIR/NAME.EXT.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", "-y", help="Replace outputs that already exist.")]
DetectionsPath = Annotated[
    Path | None, typer.Option(help="Write every detection as JSON (job-API shape). With several inputs: a folder.")
]
FramesDir = Annotated[
    Path | None,
    typer.Option(
        help="Also write DIR/images/NNNNNN.png (original) and DIR/mosaic/NNNNNN.png. With several inputs: DIR/NAME/..."
    ),
]
EngineName = Annotated[
    Literal["local", "ray"],
    typer.Option(
        help="Where segments run: local (processes on this machine) or ray (a Ray cluster; every video goes to it)."
    ),
]
RayAddress = Annotated[
    str | None,
    typer.Option(
        envvar="VEIL_RAY_ADDRESS",
        help="With --engine ray: auto (the cluster this machine is in), ray://HOST:PORT (Ray client) or HOST:PORT.",
        show_default="start a local Ray instance",
    ),
]
ScratchLocation = Annotated[
    str | None,
    typer.Option(
        envvar="VEIL_SCRATCH",
        help="With --engine ray: where segment files are staged, a folder every node can reach or s3://BUCKET or "
        "s3://BUCKET/PREFIX (endpoint from VEIL_S3_ENDPOINT, credentials from the AWS environment).",
        show_default="a hidden folder beside the output: one machine only",
    ),
]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars and no summary; errors only.")]
Debug = Annotated[bool, typer.Option("--debug", help="Show the full traceback on errors.")]


@app.command()
@with_field_options(anonymize_option_fields(), "Detection, tracking, covering and encoding")
def anonymize(
    inputs: Inputs,
    output: OutputFile = None,
    output_dir: OutputDir = None,
    overwrite: Overwrite = False,
    detections: DetectionsPath = None,
    frames_dir: FramesDir = None,
    engine: EngineName = "local",
    ray_address: RayAddress = None,
    scratch: ScratchLocation = None,
    quiet: Quiet = False,
    debug: Debug = False,
    **settings: object,
) -> None:
    """Anonymize videos: detect faces and plates, cover them, keep everything else as it was.

    The output keeps the input's resolution, frame count, timestamps, rotation and audio;
    location and device metadata are stripped unless --keep-metadata. An output appears only
    when complete: on any error nothing is left behind and the exit code is non-zero.
    """
    pin_malloc_thresholds()
    try:
        options = AnonymizeOptions.build(**settings)
        pairs = plan_outputs(expand_inputs(inputs), output, output_dir, overwrite)
        for folder in (output_dir, detections if len(pairs) > 1 else None):
            if folder is not None:
                make_folder(folder)
    except VeilError as error:
        _fail(str(error), exit_code(error))
    with contextlib.ExitStack() as stack:
        try:
            runner = _open_engine(stack, engine, options.parallel.jobs, ray_address, scratch, pairs[0][1].parent)
        except VeilError as error:
            _fail(str(error), exit_code(error))
        failures = _anonymize_all(pairs, options, runner, detections, frames_dir, quiet=quiet, debug=debug)
    if failures:
        if len(pairs) > 1:
            print(f"veil: {len(failures)} of {len(pairs)} files failed", file=sys.stderr)
        raise typer.Exit(exit_code(failures[0]))


def _anonymize_all(
    pairs: list[tuple[Path, Path]],
    options: AnonymizeOptions,
    runner: Engine,
    detections: Path | None,
    frames_dir: Path | None,
    *,
    quiet: bool,
    debug: bool,
) -> list[BaseException]:
    """Anonymize every (source, destination) pair with progress bars; return the errors of the ones that failed."""
    from veil.media import probe
    from veil.parallel import anonymize as run_anonymize

    batch = len(pairs) > 1
    bars = BatchProgress(should_show_bars(quiet), len(pairs))
    failures: list[BaseException] = []
    totals = [_frame_count(probe, source) for source, _ in pairs]
    with bars.running():
        bars.set_overall_total(sum(totals) or None)
        for (source, destination), total in zip(pairs, totals, strict=False):
            json_path = (detections / f"{destination.stem}.json" if batch else detections) if detections else None
            frames = (frames_dir / destination.stem if batch else frames_dir) if frames_dir else None
            bars.start_file(source.name, total or None)
            try:
                report = run_anonymize(
                    source,
                    destination,
                    options=options,
                    progress=bars.advance_file,
                    engine=runner,
                    detections_path=json_path,
                    frames_dir=frames,
                )
            except Exception as error:
                failures.append(error)
                bars.print(_one_line(source, error))
                if debug:
                    traceback.print_exc()
                continue
            finally:
                bars.finish_file()
            if not quiet:
                bars.print(report.summary())
    return failures


def _frame_count(probe: object, source: Path) -> int:
    try:
        return probe(source).frame_count or 0  # type: ignore[operator]
    except VeilError:
        return 0


def _one_line(source: Path, error: Exception) -> str:
    if isinstance(error, VeilError):
        message = str(error)
        return f"veil: error: {message if str(source) in message else f'{source}: {message}'}"
    # a bug, not a user error: say so, keep it to one line
    return f"veil: internal error: {source}: {type(error).__name__}: {error} (rerun with --debug for details)"


def _open_engine(
    stack: contextlib.ExitStack, name: str, jobs: int | None, ray_address: str | None, scratch: str | None, folder: Path
) -> Engine:
    """The engine for every file of the run (one pool: its workers keep their models), closed with ``stack``.

    Ray stages segment files in ``scratch``; by default a hidden folder in
    ``folder`` (the first output's), which only a cluster on this machine reaches.
    """
    from veil.files import scratch_folder
    from veil.parallel import make_engine
    from veil.parallel.staging import Scratch

    if name == "local":
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


register_serve(app)
app.add_typer(users_app, name="users")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
