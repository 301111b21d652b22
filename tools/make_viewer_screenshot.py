"""Make the README's viewer picture (docs/images/viewer.png): `vposer view` with the default
weights in headless Chromium, three bodies sampled with seed 1.

    python tools/make_viewer_screenshot.py [--out docs/images/viewer.png]

Needs Debian's chromium and the playwright package (as the viewer's end-to-end test does).
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist",
                 "--no-sandbox"]
VIEWPORT = {"width": 1440, "height": 810}
DEADLINE = 180.0


def start_viewer(out_dir: Path) -> tuple[subprocess.Popen, str]:
    """``vposer view`` in a subprocess and the URL it prints."""
    proc = subprocess.Popen([sys.executable, "-m", "vposer", "view", "--bodies", "3", "--port", "0",
                             "--output-dir", str(out_dir)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            match = re.search(r"running at (http://\S+)", line)
            if match:
                found.append(match.group(1))
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(DEADLINE):
        proc.kill()
        raise SystemExit("the viewer did not start")
    return proc, found[0]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "images" / "viewer.png")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_viewer(Path(tmp))
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = browser.new_page(viewport=VIEWPORT)
                page.set_default_timeout(DEADLINE * 1000)
                page.goto(url)
                sample = page.get_by_role("button", name="Sample", exact=True)
                sample.wait_for()
                page.add_style_tag(content=".mantine-Notifications-root { display: none !important; }")
                for seed in (0, 1):  # the seed starts at 0 and counts up: seed 1 is the second draw
                    status = page.get_by_text(f"sampled 3 with seed {seed},")
                    for _ in range(20):  # a click may land while the panel still moves: repeat
                        sample.click(force=True)
                        try:
                            status.wait_for(timeout=20_000)
                            break
                        except Exception:  # noqa: BLE001 - playwright's TimeoutError
                            continue
                page.mouse.move(5, VIEWPORT["height"] - 5)
                # software WebGL draws for seconds: wait until two shots a second apart agree
                last, deadline = b"", time.monotonic() + DEADLINE
                while time.monotonic() < deadline:
                    shot = page.screenshot()
                    if shot == last:
                        break
                    last = shot
                    time.sleep(1.0)
                args.out.write_bytes(last)
                browser.close()
        finally:
            proc.terminate()
            proc.wait(30)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
