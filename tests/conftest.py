"""Shared test fixtures.

Area-specific fixtures live in ``tests/fixtures_<area>.py`` and are loaded as pytest
plugins below (only those that exist), so each area owns its own fixture file.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from f1live.config import PROJECT_ROOT, Settings

_AREAS = ("data", "broker", "streaming", "analytics", "dashboard")
pytest_plugins = [f"tests.fixtures_{a}" for a in _AREAS if importlib.util.find_spec(f"tests.fixtures_{a}") is not None]


#: The real-data slice shipped with the repository (see tests/data/README.md).
SLICE_DATA = PROJECT_ROOT / "tests" / "data" / "shared"


def full_data_dir() -> Path:
    """Where the full real data should be (env F1LIVE_SHARED_DATA, default ../shared/data)."""
    return Path(os.environ.get("F1LIVE_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))


def have_full_data() -> bool:
    return (full_data_dir() / "fastf1_csv_exports" / "monaco_2023_race").is_dir()


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def need_full_data(what: str = "this test") -> None:
    """Skip (fail in CI, ``CI=true``) when the full real data is missing."""
    if have_full_data():
        return
    msg = (
        f"{what} needs the full real F1 data (three Monaco races) at {full_data_dir()}, which is "
        "missing; set F1LIVE_SHARED_DATA. The repository's slice (tests/data) covers only 42 minutes "
        "of the 2023 race."
    )
    if in_ci():
        pytest.fail(msg)
    pytest.skip(msg)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The full real F1 data folder; tests asking for it are skipped without it (fail in CI)."""
    need_full_data()
    return full_data_dir()


@pytest.fixture(scope="session")
def test_data() -> Path:
    """The full real data when present, else the repository's slice of the 2023 race (same
    layout): for tests that need real rows, not the whole race."""
    return full_data_dir() if have_full_data() else SLICE_DATA


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("f1live")


@pytest.fixture
def settings(tmp_path: Path, test_data: Path) -> Settings:
    """Settings whose every output goes under the test's tmp dir."""
    return Settings(
        shared_data=test_data,
        data_dir=tmp_path / "data",
        models_dir=tmp_path / "models",
        run_dir=tmp_path / "runs",
        offline=True,
    )


@pytest.fixture(autouse=True)
def _no_process_outlives_its_test(request: pytest.FixtureRequest) -> object:
    """After a test with a ``tmp_path``, kill what still runs from it (a failed test's broker).

    Passing tests leave nothing (they assert so themselves); this keeps one failure from
    leaving a java behind for the rest of the suite and the machine.
    """
    # Asked for before the test runs, so tmp_path is torn down after this fixture, not before.
    tmp = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if tmp is None:
        return
    from tests.broker_helpers import procs_with

    for proc in procs_with(tmp):
        try:
            proc.kill()
        except Exception:  # already gone
            pass
