"""Cuts: found by the look schedule after the job (veil.pipeline.cuts), shown as doubtful moments by the API."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import httpx
import pytest

from tests.media_factory import make_clip, pattern
from tests.review.conftest import sign_in, upload
from tests.service.server import VeilServer, wait_for
from veil.pipeline.cuts import find_cuts
from veil.samples import sample_frame

SIZE = (320, 180)
CUT = 12


def clip_with_a_cut(path: Path) -> Path:
    """The sample scene, then at frame CUT a different picture (the test pattern)."""
    other = pattern(*SIZE)
    content = lambda i: sample_frame(i, SIZE, frames=24) if i < CUT else other(i)
    return make_clip(path, size=SIZE, frames=24, rate=Fraction(25), content=content)


def test_the_cut_is_found(tmp_path: Path) -> None:
    assert find_cuts(clip_with_a_cut(tmp_path / "cut.mp4")) == [CUT]


@pytest.mark.timeout(180)
def test_the_frame_after_a_cut_is_a_doubtful_moment(
    server: VeilServer, first_user: tuple[str, str], tmp_path: Path
) -> None:
    job = upload(server, clip_with_a_cut(tmp_path / "cut.mp4"))
    client: httpx.Client = sign_in(server, *first_user)
    url = f"/v1/jobs/{job['job_id']}/tracks"
    tracks = wait_for(lambda: (data := client.get(url).json()) and not data["cuts_pending"] and data, 60, "the cuts")
    assert tracks["cuts"] == [CUT]
    assert {"frame": CUT, "track_id": -1, "reason": "just after a cut"} in tracks["doubtful"]
    client.close()
