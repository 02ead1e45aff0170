"""The data subcommands end to end, as a user runs them (subprocess, real files)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from f1live.export import export_session


def _cli(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    import os

    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "f1live", *args], capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def slice_export(monaco_2023_slice, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli")
    return export_session(monaco_2023_slice, out, progress=False, timestamp="20260101T000000Z")


@pytest.mark.parametrize("cmd", ["prepare", "info", "run"])
def test_help_has_examples(cmd, capsys):
    from f1live.cli import main

    with pytest.raises(SystemExit) as e:
        main([cmd, "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "Examples" in out and f"f1live {cmd}" in out


def test_info_json(slice_export, monaco_2023_slice):
    from f1live.commands.info import info

    r = _cli("info", str(slice_export.parquet), "--json")
    assert r.returncode == 0, r.stderr
    for s in (json.loads(r.stdout), info(slice_export.csv)):
        assert s["rows"] == len(monaco_2023_slice.telemetry) and s["drivers"] == ["HAM", "LEC", "VER"]
        assert s["laps"] == 23 and s["source"] == "fastf1-csv" and not s["simulated"]
        car = next(x for x in s["frequency"] if x["stream"] == "car")
        assert 3.5 < car["hz_per_car"] < 4.0


def test_prepare_from_file_then_run(slice_export, tmp_path):
    r = _cli(
        "prepare",
        "--source",
        "file",
        "--path",
        str(slice_export.parquet),
        "--out",
        str(tmp_path),
        "--formats",
        "parquet",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["rows"] > 0 and s["files"]["parquet"].startswith(str(tmp_path))
    r = _cli(
        "run",
        "--out",
        str(tmp_path),
        "--year",
        "2023",
        "--seconds",
        "1.5",
        "--speed",
        "4",
        "--from-lap",
        "22",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)["replay"]
    assert rep["rows"] > 15 and rep["drivers"] >= 1
    span = rep["session_time_s"][1] - rep["session_time_s"][0]
    assert span == pytest.approx(4 * 1.5, abs=1.0)  # paced: speed x4 for 1.5 s of wall clock
    r = _cli(
        "run",
        "--out",
        str(tmp_path),
        "--year",
        "2023",
        "--seconds",
        "1.5",
        "--speed",
        "max",
        "--from-lap",
        "22",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    fast = json.loads(r.stdout)["replay"]
    # not paced: far more session time than x4 would cover in the same wall clock
    assert fast["session_time_s"][1] - fast["session_time_s"][0] > 5 * span


@pytest.mark.parametrize("cmd", ["run", "produce", "scale", "dashboard"])
def test_bad_speed_is_rejected_naming_the_option(cmd):
    r = _cli(cmd, "--speed", "fast")
    assert r.returncode == 2, r.stderr
    assert "argument --speed: speed 'fast': expected a positive number like 1, 10, 0.5 or 'max'" in r.stderr


def test_speed_reaches_the_dashboard_kernels_and_scaling():
    from f1live.cli import build_parser
    from f1live.commands.dashboard import kernel_env
    from f1live.commands.scale import _rates

    parse = build_parser().parse_args
    assert kernel_env(parse(["dashboard", "--speed", "max"]))["F1LIVE_SPEED"] == "0.0"
    assert kernel_env(parse(["dashboard", "--speed", "20x"]))["F1LIVE_SPEED"] == "20.0"
    assert "F1LIVE_SPEED" not in kernel_env(parse(["dashboard"]))
    assert _rates(parse(["scale", "--speed", "max"])) == (("max",), 10.0)
    assert _rates(parse(["scale", "--speed", "5"])) == (("fixed",), 5.0)
    assert _rates(parse(["scale"])) == (("max",), 10.0)
    with pytest.raises(ValueError, match="--rate fixed needs a numeric --speed"):
        _rates(parse(["scale", "--speed", "max", "--rate", "fixed"]))


def test_offline_failure_message(tmp_path):
    r = _cli("prepare", "--source", "fastf1", "--offline", "--cache", str(tmp_path / "none"), "--out", str(tmp_path))
    assert r.returncode == 1
    assert "FastF1 could not load 2023 Monaco R" in r.stderr
    assert "--source simulated" in r.stderr and "--cache DIR" in r.stderr and "Traceback" not in r.stderr


def test_info_bad_file(tmp_path):
    r = _cli("info", str(tmp_path / "missing.parquet"))
    assert r.returncode == 1 and "missing.parquet does not exist" in r.stderr
