"""Turning the command line's INPUT... and output choices into (source, destination) pairs."""

from __future__ import annotations

import glob
from pathlib import Path

from veil.errors import ConfigError, InputError, OutputError, reason

VIDEO_SUFFIXES = frozenset(
    {".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".mts", ".m2ts", ".ts", ".3gp", ".flv", ".wmv", ".mpg", ".mpeg"}
)
"""Suffixes picked up when an INPUT is a folder; files named explicitly are taken whatever their suffix."""

KEEP_CONTAINER = frozenset({".mp4", ".mov", ".m4v", ".mkv"})
"""Containers that hold H.264/HEVC and the usual audio codecs; anything else is written as .mp4."""


def expand_inputs(patterns: list[str]) -> list[Path]:
    """Files named, files in folders named (not recursive), and glob matches, in order, once each."""
    found: list[Path] = []
    for pattern in patterns:
        path = Path(pattern)
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES))
        elif path.exists() or path.is_symlink():
            found.append(path)
        elif glob.has_magic(pattern):
            found.extend(Path(p) for p in sorted(glob.glob(pattern)) if Path(p).is_file())
        else:
            raise InputError("{path}: no such file or folder", path=pattern)
    unique = list(dict.fromkeys(found))
    if not unique:
        raise InputError(f"no video files found in {', '.join(patterns)}")
    return unique


def output_name(source: Path, suffix_tag: str) -> str:
    suffix = source.suffix.lower() if source.suffix.lower() in KEEP_CONTAINER else ".mp4"
    return f"{source.stem}{suffix_tag}{suffix}"


def plan_outputs(
    sources: list[Path], output: Path | None, output_dir: Path | None, overwrite: bool
) -> list[tuple[Path, Path]]:
    """Pair every source with its destination, refusing to clobber inputs or (unless asked) outputs.

    Default: ``NAME.anonymized.EXT`` beside the input; ``--output-dir DIR``:
    ``DIR/NAME.EXT``; ``-o FILE`` for a single input.
    """
    if output is not None and output_dir is not None:
        raise ConfigError("use either -o/--output or --output-dir, not both")
    if output is not None and len(sources) > 1:
        raise ConfigError(f"-o/--output names one file but {len(sources)} inputs were given; use --output-dir")
    pairs = []
    for source in sources:
        if output is not None:
            destination = output
        elif output_dir is not None:
            destination = output_dir / output_name(source, "")
        else:
            destination = source.with_name(output_name(source, ".anonymized"))
        if destination.resolve() == source.resolve():
            raise ConfigError("{path} would overwrite its own input; choose another output", path=destination)
        if destination.exists() and not overwrite:
            raise ConfigError("{path} already exists; pass --overwrite to replace it", path=destination)
        pairs.append((source, destination))
    destinations = [d.resolve() for _, d in pairs]
    if len(set(destinations)) != len(destinations):
        raise ConfigError("two inputs would write the same output name; use separate runs or rename them")
    return pairs


def make_folder(folder: Path) -> None:
    """Create an output folder the user named, with a clear error if that is impossible."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError("cannot create output folder {path}: {reason}", path=folder, reason=reason(error)) from None
