"""Screenshots of the dashboard's race-analysis tab on the real 2023 Monaco race, mid-race.

Serves the dashboard (Voila, as ``f1live dashboard`` does) on the full race from lap
``--from-lap`` at 20x, lets it run until the leader has completed ``--until-lap`` laps, pauses
the replay, opens the "Race analysis" tab and saves one full-page PNG per window size
(palette-quantised to stay small) into ``--out``. It also checks that the page needs no
horizontal scrolling at that width, and prints what it measured.

    .venv/bin/python scripts/dashboard_screenshots.py [--out docs] [--sizes 1366x768,1920x1080]
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from f1live.config import Settings  # noqa: E402
from f1live.serve import VoilaServer  # noqa: E402
from f1live.validate.base import CHROME_FLAGS  # noqa: E402

FLAGS = (*CHROME_FLAGS, "--hide-scrollbars")


def chrome(width: int, height: int):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    o = Options()
    for a in FLAGS:
        o.add_argument(a)
    o.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='f1shot-chrome-')}")
    o.add_argument(f"--window-size={width},{height}")
    o.binary_location = "/usr/bin/chromium"
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)


def open_tab(driver, title: str) -> None:
    """Click a tab of the dashboard by its title (Lumino tab bars answer pointer events)."""
    from selenium.webdriver.common.by import By

    tab = driver.find_element(By.XPATH, f"//div[contains(@class,'lm-TabBar-tabLabel') and text()='{title}']")
    tab.click()


def pick(driver, i: int, code: str) -> None:
    """Choose ``code`` in the race-analysis tab's i-th driver picker."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.CSS_SELECTOR, f".f1-race-pick-{i} select")).select_by_visible_text(code)


def full_page_png(driver, path: Path, width: int, colours: int = 256) -> int:
    """A screenshot of the whole page at ``width``, palette-quantised; returns its bytes.

    Voila scrolls an inner element, not the document, so the viewport is made as tall as the
    tallest scrolling content first."""
    import base64

    from PIL import Image

    tallest = driver.execute_script("return Math.max(...[...document.querySelectorAll('*')].map(e => e.scrollHeight));")
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": int(tallest), "deviceScaleFactor": 1, "mobile": False},
    )
    time.sleep(1.5)  # bqplot re-lays out on resize
    shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
    bottom = driver.execute_script("return document.querySelector('.f1-root').getBoundingClientRect().bottom")
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    img = Image.open(io.BytesIO(base64.b64decode(shot["data"]))).convert("RGB")
    img = img.crop((0, 0, img.width, min(img.height, int(bottom) + 12)))
    img = img.quantize(colors=colours, method=Image.Quantize.MEDIANCUT)
    img.save(path, optimize=True)
    return path.stat().st_size


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "docs")
    ap.add_argument("--sizes", default="1366x768,1920x1080")
    ap.add_argument("--from-lap", type=int, default=38)
    ap.add_argument("--until-lap", type=int, default=44)
    ap.add_argument("--broker", default="tansu")
    ap.add_argument("--driver", default="VER", help="selected driver in the race-analysis tab")
    ap.add_argument("--compare", default="ALO", help="compared driver")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="f1shot-"))
    args.out.mkdir(parents=True, exist_ok=True)
    settings = Settings.from_env()
    env = {
        "F1LIVE_SOURCE": "fastf1-csv",
        "F1LIVE_OFFLINE": "1",
        "F1LIVE_RUN_DIR": str(work / "runs"),
        "F1LIVE_SPEED": "20",
        "F1LIVE_SHARED_DATA": str(settings.shared_data),
        "F1LIVE_BROKER": args.broker,
        "F1LIVE_MODELS_DIR": str(settings.models_dir),
        "F1LIVE_DASHBOARD_START_LAP": str(args.from_lap),
        "F1LIVE_DASHBOARD_HEARTBEAT_S": "60",
    }
    with VoilaServer(env=env, log_path=work / "voila.log") as srv:
        srv.start()
        for size in args.sizes.split(","):
            width, height = map(int, size.split("x"))
            d = chrome(width, height)
            try:
                d.get(srv.url)
                t0 = time.monotonic()

                def lap(d=d) -> int:  # noqa: ANN001 - the driver of this size
                    text = (
                        d.execute_script(
                            "const e = document.querySelector('.f1-session-time');return e ? e.textContent : '';"
                        )
                        or ""
                    )
                    return int(text.split("/")[0].replace("Lap", "").strip()) if text.startswith("Lap") else 0

                while lap() < args.until_lap:
                    if time.monotonic() - t0 > 300:
                        raise RuntimeError(f"the replay did not reach lap {args.until_lap} in 300 s")
                    time.sleep(0.5)
                open_tab(d, "Race analysis")
                time.sleep(1.0)
                pick(d, 0, args.driver)
                pick(d, 1, args.compare)
                time.sleep(3.0)  # two full frames: pickers, then the comparison's traces
                d.execute_script("document.querySelector('.f1-btn-pause').click()")
                time.sleep(2.0)
                scroll = d.execute_script(
                    "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
                )
                path = args.out / f"dashboard_race_analysis_{width}x{height}.png"
                n = full_page_png(d, path, width)
                print(
                    f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {n / 1024:.0f} KB, "
                    f"page {scroll[0]} px wide in a {scroll[1]} px window "
                    f"({'no horizontal scroll' if scroll[0] <= scroll[1] else 'HORIZONTAL SCROLL'}), "
                    f"lap {lap()}"
                )
            finally:
                d.quit()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
