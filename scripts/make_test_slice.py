#!/usr/bin/env python3
"""Cut the small real-data slice shipped in ``tests/data/`` from the shared F1 data.

The slice lets the test suite run on a clone without ``../shared/data`` (tests that need
the full races are skipped there, or fail in CI). It is the 2023 Monaco GP Race, all 20
drivers, from 2 minutes before lights out to 42 minutes after (laps 1 to ~32, including
the first pit stops), in the raw FastF1 dump layout the ``fastf1-csv`` source reads:

* ``car_data_2023_driver_<N>.csv.gz``: the original CSV's header and the lines whose sample
  lies in the window, unchanged (gzip -9, no timestamp);
* ``monaco_laps_2023.csv.gz``: the laps that started in the window (original lines);
* ``track_status_2023.csv``, ``weather_2023.csv``, ``lap_count_2023.csv``: original lines
  up to the window's end; ``driver_info_2023.csv``: the original file;
* ``race_control_2023.csv``: FastF1 ``session.race_control_messages`` up to the window's
  end, loaded offline from the shared FastF1 cache and written with ``to_csv(index=False)``.

Usage: ``python scripts/make_test_slice.py [--shared ../shared/data] [--out tests/data/shared]``
(run from the repository root; it rewrites the output folder).
"""

from __future__ import annotations

import argparse
import gzip
import io
import shutil
from pathlib import Path

import pandas as pd

BEFORE_S = 120.0
AFTER_S = 42 * 60.0
RACE = "fastf1_csv_exports/monaco_2023_race"


def _gzip_lines(lines: list[str], path: Path) -> None:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", compresslevel=9, mtime=0, filename="") as g:
        g.write("".join(lines).encode())
    path.write_bytes(buf.getvalue())


def _lines(path: Path) -> list[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", newline="") as f:  # type: ignore[operator]
        return f.readlines()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared", type=Path, default=Path("../shared/data"))
    ap.add_argument("--out", type=Path, default=Path("tests/data/shared"))
    args = ap.parse_args()
    from f1live.config import Settings
    from f1live.sources.fastf1 import race_control_frame  # noqa: F401 (documents the format)
    from f1live.sources.fastf1_csv import load_fastf1_csv
    from f1live.sources.telemetry import parse_timedelta_seconds

    src = args.shared / RACE
    out = args.out / RACE
    if args.out.exists():
        shutil.rmtree(args.out)
    out.mkdir(parents=True)
    settings = Settings(source="fastf1-csv", shared_data=args.shared, offline=True)
    full = load_fastf1_csv(settings, progress=False, drivers=["VER"])
    t0 = pd.Timestamp(full.meta["t0_date"])
    start = float(full.meta["race_start_session_time"]) - BEFORE_S
    end = float(full.meta["race_start_session_time"]) + AFTER_S
    for f in sorted(src.glob("car_data_2023_driver_*.csv.gz")):
        lines = _lines(f)
        df = pd.read_csv(f, usecols=["Date"])
        st = (pd.to_datetime(df["Date"], utc=True) - t0).dt.total_seconds().to_numpy()
        keep = [lines[0]] + [ln for ln, t in zip(lines[1:], st, strict=True) if start <= t <= end]
        _gzip_lines(keep, out / f.name)
    lines = _lines(src / "monaco_laps_2023.csv")
    laps = pd.read_csv(src / "monaco_laps_2023.csv", usecols=["LapStartTime"])
    ls = parse_timedelta_seconds(laps["LapStartTime"])
    _gzip_lines(
        [lines[0]] + [ln for ln, t in zip(lines[1:], ls, strict=True) if t <= end], out / "monaco_laps_2023.csv.gz"
    )
    for name in ("track_status_2023.csv", "weather_2023.csv", "lap_count_2023.csv"):
        lines = _lines(src / name)
        t = parse_timedelta_seconds(pd.read_csv(src / name, usecols=["Time"])["Time"])
        (out / name).write_text("".join([lines[0]] + [ln for ln, x in zip(lines[1:], t, strict=True) if x <= end]))
    shutil.copyfile(src / "driver_info_2023.csv", out / "driver_info_2023.csv")
    import logging
    import tempfile

    import fastf1

    cache = Path(tempfile.mkdtemp())
    shutil.copytree(args.shared / "fastf1_cache", cache, dirs_exist_ok=True)
    for q in cache.rglob("*"):
        q.chmod(0o755 if q.is_dir() else 0o644)
    fastf1.Cache.configure(cache_dir=str(cache), ignore_version=True)
    fastf1.Cache.offline_mode(True)
    logging.getLogger("fastf1").setLevel(logging.ERROR)
    s = fastf1.get_session(2023, "Monaco", "R")
    s.load(laps=False, telemetry=False, weather=False, messages=True)
    rc = s.race_control_messages
    when = (pd.to_datetime(rc["Time"]).dt.tz_localize("UTC") - t0).dt.total_seconds()
    rc[when <= end].to_csv(out / "race_control_2023.csv", index=False)
    shutil.rmtree(cache, ignore_errors=True)
    total = sum(p.stat().st_size for p in out.iterdir())
    print(
        f"wrote {len(list(out.iterdir()))} files, {total / 1e6:.2f} MB, session time {start:.1f}-{end:.1f} s, to {out}"
    )


if __name__ == "__main__":
    main()
