"""report.html in a real headless browser (Chromium from Debian's packages; .ci/run installs it as it
installs wrk): the page renders its charts and its warnings, checked on the DOM after layout and on the
pixels of a screenshot, which is kept at bench/out/report.png for the README.

The screenshot is not committed (bench/out/ is gitignored): it changes with the Chromium version and the
fonts of the machine, and a test that rewrote a tracked file would dirty every checkout it runs in.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import REPO
from tests.report.test_verdicts import WEAK_POLICY

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WINDOW = (1200, 5200)  # tall enough for the whole report: headless Chromium captures the viewport only
SCREENSHOT = REPO / "bench" / "out" / "report.png"

# Appended to a copy of the page: writes each chart's and warning's box (CSS pixels) into the DOM, so
# --dump-dom returns the layout the screenshot is taken of. It goes after the footer, moving nothing above.
LAYOUT_SCRIPT = """<pre id="layout"></pre><script>
const box = e => { const r = e.getBoundingClientRect();
  return {x: r.left + scrollX, y: r.top + scrollY, w: r.width, h: r.height, label: e.getAttribute("aria-label")
          || e.dataset.code || ""}; };
document.getElementById("layout").textContent = JSON.stringify({
  charts: [...document.querySelectorAll("svg.chart")].map(box),
  warnings: [...document.querySelectorAll(".warning")].map(box),
  bars: document.querySelectorAll("svg.chart rect.bar").length,
  height: document.getElementById("layout").getBoundingClientRect().top + scrollY});
</script>"""


BLUE, ORANGE = (0x2F, 0x80, 0xED), (0xF2, 0x99, 0x4A)  # the released series' bars, the loss bars
AMBER, WHITE = (0xFF, 0xFB, 0xEA), (0xFF, 0xFF, 0xFF)  # a warning's background, the page's


def share_near(pixels: np.ndarray, colour: tuple[int, int, int], tolerance: int) -> float:
    """The share of `pixels` (N×3) within `tolerance` (summed over R, G, B) of `colour`."""
    return float(np.mean(np.abs(pixels - np.array(colour)).sum(axis=1) < tolerance))


def _browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def _chromium(browser: str, *args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(tmp)}  # its profile and crash dumps go to the test's folder
    return subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
         "--force-device-scale-factor=1", f"--window-size={WINDOW[0]},{WINDOW[1]}",
         f"--user-data-dir={tmp / 'profile'}", *args],
        capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="module")
def weak_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real anonymize run (k=5 Mondrian, split 70/15/15) with diagnosis as its only sensitive value
    in some classes: l=1, t near 1, splits below k."""
    from privml.cli import main
    from privml.sampledata import generate

    tmp = tmp_path_factory.mktemp("report")
    os.environ.setdefault("PRIVML_WORKSPACE", str(tmp / "ws"))
    raw = tmp / "raw.csv"
    generate(rows=2000, seed=1).to_csv(raw, index=False)
    (tmp / "policy.yaml").write_text(WEAK_POLICY)
    out = tmp / "anonymized"
    assert main(["anonymize", str(raw), "--policy", str(tmp / "policy.yaml"), "-o", str(out),
                 "--split", "0.7,0.15,0.15"]) == 0
    return out / "report.html"


def test_report_renders_charts_and_warnings_in_chromium(weak_report: Path, tmp_path: Path) -> None:
    browser = _browser()
    if browser is None:
        pytest.skip("no Chromium: `apt-get install -y chromium` (as root; .ci/run does it) to run this test")
    from PIL import Image

    page = tmp_path / "report.html"
    page.write_text(weak_report.read_text(encoding="utf-8").replace("</body>", LAYOUT_SCRIPT + "</body>"))
    dom = _chromium(browser, "--virtual-time-budget=2000", "--dump-dom", page.as_uri(), tmp=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    start = dom.stdout.index('<pre id="layout">') + len('<pre id="layout">')
    layout = json.loads(dom.stdout[start:dom.stdout.index("</pre>", start)].replace("&quot;", '"'))
    labels = [c["label"] for c in layout["charts"]]
    assert {"risk before and after", "records by equivalence-class size", "information loss per column"} <= set(labels)
    assert layout["bars"] > 10
    codes = {w["label"] for w in layout["warnings"]}
    assert {"l_one", "t_near_one", "split_below_k"} <= codes, codes
    for item in layout["charts"] + layout["warnings"]:
        assert item["w"] > 300 and item["h"] > 30, item  # laid out, not collapsed
        assert item["y"] + item["h"] < WINDOW[1], f"{item['label']} is below the captured viewport"

    # the page as written (the layout probe only appends below the footer, so every box is where it was)
    shot_file = tmp_path / "report.png"
    shot = _chromium(browser, f"--screenshot={shot_file}", weak_report.as_uri(), tmp=tmp_path)
    assert shot.returncode == 0 and shot_file.is_file(), shot.stderr[-2000:]
    image = Image.open(shot_file).convert("RGB")
    assert image.size == WINDOW
    assert share_near(np.asarray(image, dtype=np.int32).reshape(-1, 3), WHITE, 1) < 0.95  # not a blank page
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    image.crop((0, 0, WINDOW[0], min(WINDOW[1], int(layout["height"]) + 16))).save(SCREENSHOT)

    def region(item: dict) -> np.ndarray:
        box = (int(item["x"]), int(item["y"]), int(item["x"] + item["w"]), int(item["y"] + item["h"]))
        return np.asarray(image.crop(box), dtype=np.int32).reshape(-1, 3)

    for chart in layout["charts"]:
        pixels = region(chart)
        assert share_near(pixels, WHITE, 1) < 0.99, f"chart {chart['label']!r} is blank"
        # bars are painted, not only the axes
        painted = share_near(pixels, BLUE, 30) + share_near(pixels, ORANGE, 30)
        assert painted > 0.001, f"chart {chart['label']!r} has no bars"
    for warning in layout["warnings"]:
        assert share_near(region(warning), AMBER, 12) > 0.3, f"warning {warning['label']} is not styled as a warning"
