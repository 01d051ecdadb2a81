"""Screenshot the top of a run's report.html in headless Chromium (for docs/report.png).

Usage: python scripts/screenshot_report.py RUN_DIR [OUT.png] [--height PIXELS]
Needs Debian's chromium at /usr/bin/chromium (`make setup` installs it) and playwright.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from mnistlab.serve.live import chromium_page  # shared with the browser tests


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="run folder holding report.html")
    parser.add_argument("out", type=Path, nargs="?", default=Path("docs/report.png"))
    parser.add_argument("--height", type=int, default=1100, help="viewport height in pixels")
    args = parser.parse_args()
    report = args.run_dir / "report.html"
    if not report.is_file():
        print(f"error: {report} not found; run `mnistlab evaluate {args.run_dir}`", file=sys.stderr)
        return 1
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with chromium_page(1200, args.height) as page:
        page.goto(report.resolve().as_uri(), wait_until="load")
        page.screenshot(path=str(args.out))
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
