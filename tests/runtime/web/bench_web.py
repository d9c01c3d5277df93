"""Benchmark: first paint of the worklist and of the exam view in headless Chromium on loopback.

    .venv/bin/python tests/runtime/web/bench_web.py [--repeat 5] [--screenshots docs/img]

A phantom exam goes through the real intake and worker (as in the tests), ``mammoedge web`` serves it on
127.0.0.1, and Chromium loads each page ``--repeat`` times. Figures from the browser's Paint Timing
(first-contentful-paint) and Navigation Timing, plus the page's own marks: ``worklist-rows`` (the first rows
drawn from the event stream) and ``exam-views`` (all four views decoded). The first exam view after the page
starts renders the views from the spooled DICOM; later loads hit the page's in-memory cache. Budget: worklist
first paint <= 1 s, exam view <= 2 s.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from web_helpers import PASSWORD, Page, add_user, chrome, make_box_state

TIMING = """
const nav = performance.getEntriesByType('navigation')[0];
const paint = Object.fromEntries(performance.getEntriesByType('paint').map(e => [e.name, e.startTime]));
const mark = (n) => (performance.getEntriesByName(n)[0] || {}).startTime ?? null;
return {fcp: paint['first-contentful-paint'] ?? null, ttfb: nav.responseStart, dom: nav.domContentLoadedEventEnd,
        load: nav.loadEventEnd, rows: mark('worklist-rows'), ready: mark('exam-ready'), views: mark('exam-views')};
"""


def wait(driver, script: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not driver.execute_script(script):
        if time.monotonic() > deadline:
            raise TimeoutError(script)
        time.sleep(0.02)


def small_png(png: bytes, path: Path, limit: int = 150_000) -> None:
    """Write a screenshot under ``limit`` bytes: quantized to 128 colours, scaled down if still too big."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    while True:
        out = io.BytesIO()
        image.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(out, "PNG", optimize=True)
        if out.tell() <= limit or image.width < 400:
            path.write_bytes(out.getvalue())
            return
        image = image.resize((image.width * 4 // 5, image.height * 4 // 5), Image.Resampling.LANCZOS)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--screenshots", type=Path, help="write web-worklist.png, web-exam.png, web-box.png here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        state = make_box_state(root)
        print(f"phantom exam through intake + worker: {time.perf_counter() - started:.1f} s")
        add_user(state, "bench")
        page = Page(state)
        driver = chrome(root / "chromium")
        try:
            driver.get(page.url + "/login")
            driver.find_element("id", "name").send_keys("bench")
            driver.find_element("id", "password").send_keys(PASSWORD)
            driver.find_element("id", "submit").click()
            wait(driver, "return location.pathname === '/' && document.querySelectorAll('#worklist tbody tr').length > 0")
            results: dict[str, list[dict]] = {"worklist": [], "exam": []}
            for _ in range(args.repeat):
                driver.get(page.url + "/")
                wait(driver, "return performance.getEntriesByName('worklist-rows').length > 0")
                results["worklist"].append(driver.execute_script(TIMING))
                driver.get(f"{page.url}/exam/{state.study_key}")
                wait(driver, "return performance.getEntriesByName('exam-views').length > 0", 60)
                results["exam"].append(driver.execute_script(TIMING))
            for name, runs in results.items():
                print(f"{name}:")
                for field in ("ttfb", "fcp", "dom", "load", "rows", "ready", "views"):
                    values = [r[field] for r in runs if r[field] is not None]
                    if values:
                        print(f"  {field:6s} first {values[0]:7.0f} ms  median {statistics.median(values):7.0f} ms  "
                              f"max {max(values):7.0f} ms  (n={len(values)})")
            if args.screenshots:
                args.screenshots.mkdir(parents=True, exist_ok=True)
                driver.get(page.url + "/")
                wait(driver, "return document.querySelectorAll('#worklist tbody tr').length > 0")
                small_png(driver.get_screenshot_as_png(), args.screenshots / "web-worklist.png")
                driver.get(f"{page.url}/exam/{state.study_key}")
                wait(driver, "return performance.getEntriesByName('exam-views').length > 0", 60)
                driver.find_element("id", "toggle-saliency").click()
                time.sleep(1.0)
                small_png(driver.get_screenshot_as_png(), args.screenshots / "web-exam.png")
                driver.get(page.url + "/box")
                wait(driver, "return document.body.dataset.ready === '1'")
                small_png(driver.get_screenshot_as_png(), args.screenshots / "web-box.png")
                print(f"screenshots in {args.screenshots}")
        finally:
            driver.quit()
            page.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
