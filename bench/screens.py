"""Screenshots of the console on a phone: the nine steps at 390 px, and the dashboard at 1280 px.

    .venv/bin/python bench/screens.py [--out docs/screens] [--full-page] [--colors 128]

Works in its own PostgreSQL database `cleara_bench_screens` (on the server DATABASE_URL names, or
127.0.0.1:5432), recreated and seeded with the e2e tests' data (`incidents.tests.seed.seed_console`)
on every run; daphne with the in-memory channel layer (REDIS_URL is ignored), headless Chromium as
alice. Each page is shot once its htmx requests and charts have settled (network idle, every
chart placeholder drawn), then saved as a palette PNG (`--colors` colours, Pillow's optimiser):
the console's dark theme needs few colours, and the whole set stays small enough to commit.

The nine steps are the walk of `incidents/tests/e2e/test_console.py`: the incident list, then an
incident's overview, timeline, root cause, service map, recommendations, investigate, collaborate
and resolve. The API reference is shot too. Prints each file and its size.
"""
from __future__ import annotations

import argparse
import io
import os
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BASE_DIR))

from bench.pages import CHROMIUM, CHROMIUM_ARGS, seeded_console, start_daphne  # noqa: E402

DB_NAME = os.environ.get("BENCH_SCREENS_DB", "cleara_bench_screens")  # another name keeps two checkouts apart
# Every chart placeholder drawn by charts.js, and htmx idle.
SETTLED = """() => [...document.querySelectorAll('[data-plotly-figure]')].every(el => el.dataset.plotlyDrawn && el.querySelector('.main-svg'))
    && !document.querySelector('.htmx-request')"""


def shots(number: int) -> list[tuple[str, str, int]]:
    """(file name, path, width) of every screenshot."""
    steps = [("overview", ""), ("timeline", "timeline/"), ("root-cause", "rca/"), ("service-map", "map/"),
             ("recommendations", "recommendations/"), ("investigate", "investigate/"), ("collaborate", "collaborate/"),
             ("resolve", "resolve/")]
    out = [("1-dashboard-390.png", "/", 390)]
    out += [(f"{n}-{name}-390.png", f"/incidents/{number}/{path}", 390) for n, (name, path) in enumerate(steps, start=2)]
    out += [("dashboard-1280.png", "/", 1280), ("api-docs-390.png", "/api/v1/docs", 390)]
    return out


def compress(png: bytes, colors: int) -> bytes:
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    quantized = image.quantize(colors=colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    quantized.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(BASE_DIR / "docs" / "screens"))
    parser.add_argument("--full-page", action="store_true", help="the whole page, not the first screen")
    parser.add_argument("--colors", type=int, default=128, help="palette size of the saved PNGs")
    args = parser.parse_args()

    os.environ.pop("REDIS_URL", None)
    data, session = seeded_console(DB_NAME, "alice")
    from django.conf import settings
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    proc, base = start_daphne({**os.environ, "DJANGO_DEBUG": "0", "Q_SYNC": "1"})
    total = 0
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            for name, path, width in shots(data.main.number):
                phone = width < 600
                ctx = browser.new_context(viewport={"width": width, "height": 844 if phone else 900}, device_scale_factor=1,
                                          is_mobile=phone, has_touch=phone, base_url=base)
                ctx.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": base}])
                page = ctx.new_page()
                errors = []
                page.on("pageerror", lambda exc, errors=errors: errors.append(str(exc)))
                page.on("console", lambda msg, errors=errors: errors.append(msg.text) if msg.type == "error" else None)
                response = page.goto(path, wait_until="load")
                if response is None or response.status != 200:
                    raise SystemExit(f"{path} answered {response and response.status}")
                page.wait_for_load_state("networkidle")
                page.wait_for_function(SETTLED, timeout=30_000)
                png = compress(page.screenshot(full_page=args.full_page, animations="disabled"), args.colors)
                (out / name).write_bytes(png)
                total += len(png)
                print(f"  {name:<28} {path:<34} {width:>4} px  {len(png) / 1024:6.0f} KB{'  errors: ' + '; '.join(errors) if errors else ''}",
                      flush=True)
                ctx.close()
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    print(f"  total {total / 1024:.0f} KB in {out}")


if __name__ == "__main__":
    main()
