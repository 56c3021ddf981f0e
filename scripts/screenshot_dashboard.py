"""Makes docs/dashboard.png, the README's picture of the dashboard: a
private redis-server, a made-up experiment with two weeks of counts, the
dashboard served as `lamed serve` serves it, and Debian's chromium.

    .venv/bin/python scripts/screenshot_dashboard.py
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from lamed.cli.embedded import RedisServer
from lamed.cli.serve import make_wsgi_server
from lamed.core.events import Event
from lamed.core.settings import Settings
from lamed.web import runtime

ROOT = Path(__file__).resolve().parent.parent
KEY = "screenshot-api-key-0123456789"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]  # fmt: skip
RATES = {"control": (0.050, 0.020), "green button": (0.061, 0.021)}  # (signup, share) per visitor


def seed(store, days: int = 14, visitors_per_day: int = 700) -> None:
    draw = random.Random(7)
    today = time.time()
    for day in range(days):
        now = today - (days - 1 - day) * 86400
        events = []
        for n in range(visitors_per_day):
            variant = draw.choice(list(RATES))
            user = f"d{day}-u{n}"
            events.append(Event("alephbet", "checkout button", variant, "participate", user))
            for goal, rate in zip(("signup", "share"), RATES[variant]):
                if draw.random() < rate:
                    events.append(Event("alephbet", "checkout button", variant, goal, user))
        for start in range(0, len(events), 500):
            store.track_many(events[start : start + 500], now=now)


def main() -> None:
    with RedisServer() as redis_server:
        settings = Settings(redis_url=redis_server.url, api_key=KEY)
        store = runtime.build_store(settings)
        runtime.install(settings, store)
        seed(store)
        server = make_wsgi_server("127.0.0.1", 0)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_port}"
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{url}/dashboard?experiment=checkout+button")
            page.fill("#key", KEY)
            page.click("button[type=submit]")
            page.wait_for_load_state()
            target = ROOT / "docs" / "dashboard.png"
            page.screenshot(path=str(target), full_page=True)
            browser.close()
        server.shutdown()
        print(f"wrote {target}")


if __name__ == "__main__":
    main()
