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
pytest_plugins = [
    f"tests.fixtures_{a}" for a in _AREAS if importlib.util.find_spec(f"tests.fixtures_{a}") is not None
]


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real F1 data folder (env F1LIVE_SHARED_DATA, default ../shared/data)."""
    path = Path(os.environ.get("F1LIVE_SHARED_DATA", PROJECT_ROOT.parent / "shared" / "data"))
    if not (path / "README.md").exists():
        pytest.fail(f"real test data not found at {path}; set F1LIVE_SHARED_DATA")
    return path


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("f1live")


@pytest.fixture
def settings(tmp_path: Path, shared_data: Path) -> Settings:
    """Settings whose every output goes under the test's tmp dir."""
    return Settings(
        shared_data=shared_data,
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
