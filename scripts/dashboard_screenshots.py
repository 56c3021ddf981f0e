"""Makes docs/grafana-dashboard.png and docs/cloudwatch-dashboard.png
(``.venv/bin/python scripts/dashboard_screenshots.py``; needs Debian's
``prometheus`` and ``chromium``; about two minutes; not run by the tests).

Grafana is not installable here, so this draws the panels of
docs/grafana-dashboard.json itself, from a real Prometheus that scrapes a
real ``lamed serve --workers 2`` every second while a known mix of traffic
runs (counted, duplicates, refused, invalid, and Redis stopped for a few
seconds): each panel's own PromQL is asked of that Prometheus
(``$__rate_interval`` read as 10s). The CloudWatch picture draws the
widgets of the dashboard ``lamed deploy`` writes from the EMF lines of the
Lambda handler, invoked in process over a simulated half hour for a stable
version and a canary, added up per minute as CloudWatch does. Neither is
the product's own rendering (docs/observability.md says so)."""

from __future__ import annotations

import html
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lamed.cli.embedded import RedisServer, free_port  # noqa: E402

DOCS = ROOT / "docs"
API_KEY = "screenshot-api-key-0123456789"
TRAFFIC_SECONDS = 100
COLORS = ["#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#fade2a", "#c4162a"]


# -- drawing ----------------------------------------------------------------


def chart(title: str, series: list[tuple[str, list[tuple[float, float]]]], width: int, height: int,
          unit: str = "", dark: bool = True) -> str:  # fmt: skip
    """An SVG line chart: ``series`` of (label, [(t, value)])."""
    fg, grid, bg = ("#ccccdc", "#2c3235", "#181b1f") if dark else ("#16191f", "#e9ebed", "#ffffff")
    points = [p for _, values in series for p in values if p[1] == p[1]]  # NaN-free
    rows, row_width = 1, 0
    for label, _ in series:
        row_width += 24 + 7 * len(label)
        if row_width > width - 70:
            rows, row_width = rows + 1, 24 + 7 * len(label)
    left, top, right, bottom = 56, 30, 12, 30 + 16 * rows
    plot_w, plot_h = width - left - right, height - top - bottom
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" style="background:{bg}">',
        f'<text x="10" y="19" fill="{fg}" font-size="13" font-weight="600">{html.escape(title)}</text>',
    ]
    if not points:
        svg.append(f'<text x="{width / 2}" y="{height / 2}" fill="{fg}" text-anchor="middle">No data</text></svg>')
        return "".join(svg)
    t0, t1 = min(p[0] for p in points), max(p[0] for p in points)
    top_value = max(p[1] for p in points) or 1.0
    scale_x = lambda t: left + (t - t0) / ((t1 - t0) or 1) * plot_w  # noqa: E731
    scale_y = lambda v: top + plot_h - v / top_value * plot_h  # noqa: E731
    for step in range(5):
        value = top_value * step / 4
        y = scale_y(value)
        svg.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="{grid}"/>')
        svg.append(
            f'<text x="{left - 4}" y="{y + 4:.1f}" fill="{fg}" font-size="10" text-anchor="end">'
            f"{_format(value, unit)}</text>"
        )
    for step in range(5):
        t = t0 + (t1 - t0) * step / 4
        label = time.strftime("%H:%M:%S" if t1 - t0 < 600 else "%H:%M", time.gmtime(t))
        svg.append(
            f'<text x="{scale_x(t):.1f}" y="{top + plot_h + 14}" fill="{fg}" font-size="10" '
            f'text-anchor="middle">{label}</text>'
        )
    legend_x, legend_y = left, top + plot_h + 30
    for index, (label, values) in enumerate(series):
        color = COLORS[index % len(COLORS)]
        path = " ".join(f"{scale_x(t):.1f},{scale_y(v):.1f}" for t, v in values if v == v)
        svg.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        if legend_x + 24 + 7 * len(label) > width - 10:
            legend_x, legend_y = left, legend_y + 16
        svg.append(f'<rect x="{legend_x}" y="{legend_y - 6}" width="12" height="4" fill="{color}"/>')
        text = html.escape(label)
        svg.append(f'<text x="{legend_x + 16}" y="{legend_y}" fill="{fg}" font-size="11">{text}</text>')
        legend_x += 24 + 7 * len(label)
    svg.append("</svg>")
    return "".join(svg)


def _format(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.3g} ms"
    if unit == "percentunit":
        return f"{value * 100:.3g}%"
    if unit == "ms":
        return f"{value:.3g} ms"
    return f"{value:.3g}"


def screenshot(page_html: str, target: Path, width: int) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": width, "height": 600})
        page.set_content(page_html)
        page.screenshot(path=str(target), full_page=True)
        browser.close()
    print(f"wrote {target.relative_to(ROOT)}")


# -- the Grafana dashboard over a real Prometheus -----------------------------


def grafana_picture(redis: RedisServer) -> None:
    port, metrics_port, prometheus_port = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "LAMED_REDIS_URL": redis.url,
        "LAMED_API_KEY": API_KEY,
        "LAMED_ALLOWED_NAMESPACES": "shop",
        "LAMED_REDIS_TIMEOUT_SECONDS": "0.3",
        "LAMED_LOG_LEVEL": "error",
        "LAMED_CONFIG": "/nonexistent.json",
    }
    serve = subprocess.Popen(
        [sys.executable, "-c", "from lamed.cli.main import main; main()", "serve", "--port", str(port),
         "--workers", "2", "--metrics-port", str(metrics_port)], env=env, stdout=subprocess.DEVNULL)  # fmt: skip
    scratch = Path(tempfile.mkdtemp(prefix="lamed-prometheus-"))
    (scratch / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s}\n"
        f"scrape_configs: [{{job_name: lamed, static_configs: [{{targets: ['127.0.0.1:{metrics_port}']}}]}}]\n"
    )
    prometheus = subprocess.Popen(
        ["prometheus", f"--config.file={scratch / 'prometheus.yml'}", f"--storage.tsdb.path={scratch / 'data'}",
         f"--web.listen-address=127.0.0.1:{prometheus_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base + "/health")
        _wait_for(f"http://127.0.0.1:{prometheus_port}/-/ready")
        start = time.time()
        _traffic(base, redis, TRAFFIC_SECONDS)
        time.sleep(3)
        end = time.time()
        dashboard = json.loads((DOCS / "grafana-dashboard.json").read_text())
        charts = []
        for panel in dashboard["panels"]:
            series = []
            for target in panel["targets"]:
                expr = target["expr"].replace("$__rate_interval", "10s")
                for result in _query_range(prometheus_port, expr, start + 10, end):
                    label = target["legendFormat"]
                    for name, value in result["metric"].items():
                        label = label.replace("{{" + name + "}}", value)
                    series.append((label, [(float(t), float(v)) for t, v in result["values"]]))
            unit = panel["fieldConfig"]["defaults"]["unit"]
            charts.append(chart(panel["title"], series, 620, 260, unit, dark=True))
        page = ('<html><body style="margin:0;background:#111217;font-family:sans-serif;padding:8px">'
                f'<div style="color:#ccccdc;font-size:18px;margin:4px 4px 10px">{html.escape(dashboard["title"])}'
                ' <span style="font-size:12px;color:#8e8e8e">panels of docs/grafana-dashboard.json, queried from '
                'Prometheus scraping lamed serve --workers 2; drawn by scripts/dashboard_screenshots.py</span></div>'
                '<div style="display:grid;grid-template-columns:620px 620px;gap:8px">'
                + "".join(charts) + "</div></body></html>")  # fmt: skip
        screenshot(page, DOCS / "grafana-dashboard.png", 1270)
    finally:
        for process in (serve, prometheus):
            process.send_signal(signal.SIGTERM)
            process.wait(15)


def _wait_for(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer")


def _get(url: str, body: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _traffic(base: str, redis: RedisServer, seconds: float) -> None:
    """Four clients: new events, a resend now and then, an event outside the
    allowed namespace, an invalid one, batches; Redis stopped for 6 s."""
    stop_at = time.monotonic() + seconds

    def client(number: int) -> None:
        chance, n = random.Random(number), 0
        while time.monotonic() < stop_at:
            n += 1
            uuid = f"c{number}-{n}"
            query = {"namespace": "shop", "experiment": "checkout", "variant": chance.choice("ab"),
                     "event": chance.choice(["participate", "buy"]), "uuid": uuid}  # fmt: skip
            _get(base + "/track?" + urllib.parse.urlencode(query))
            if n % 4 == 0:
                _get(base + "/track?" + urllib.parse.urlencode(query))  # a resend: duplicate
            if n % 10 == 0:
                _get(base + "/track?" + urllib.parse.urlencode({**query, "namespace": "elsewhere"}))
            if n % 15 == 0:
                _get(base + "/track?" + urllib.parse.urlencode({**query, "uuid": ""}))
            if n % 20 == 0:
                batch = [{**query, "uuid": f"{uuid}-{k}"} for k in range(10)]
                _get(base + "/track", json.dumps(batch).encode())
            if n % 50 == 0:
                _get(base + "/experiments?namespace=shop")  # 401 without the key: a 4xx on another route
            time.sleep(0.02 + chance.random() * 0.03)

    threads = [threading.Thread(target=client, args=(number,)) for number in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(seconds * 0.55)
    redis.process.send_signal(signal.SIGSTOP)
    time.sleep(6)
    redis.process.send_signal(signal.SIGCONT)
    for thread in threads:
        thread.join()


def _query_range(port: int, expr: str, start: float, end: float) -> list:
    query = urllib.parse.urlencode({"query": expr, "start": start, "end": end, "step": "2"})
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/query_range?{query}", timeout=30) as response:
        answer = json.load(response)
    if answer.get("status") != "success":
        raise SystemExit(f"Prometheus refused {expr}: {answer}")
    return answer["data"]["result"]


# -- the CloudWatch dashboard from the handler's EMF lines --------------------


def cloudwatch_picture(redis: RedisServer) -> None:
    from lamed.core import observe
    from lamed.core.settings import Settings
    from lamed.deploy.metrics import dashboard_body
    from lamed.deploy.plan import Names
    from lamed.web import emf, runtime
    from lamed.web.gateway import proxy_event
    from lamed.web.lambda_handler import _default_app, make_handler, with_cloudwatch_metrics

    runtime.install(Settings(redis_url=redis.url, allowed_namespaces=("shop",), redis_timeout_seconds=0.1))
    lines: list[str] = []
    emf._print = lines.append
    start = (time.time() // 60) * 60 - 30 * 60
    clock = SimpleNamespace(now=start)
    emf.time = SimpleNamespace(time=lambda: clock.now)
    for version, per_minute, outage in (("7", 80, ()), ("8", 20, (17, 18))):  # the canary has a Redis outage
        clock.now = start
        handler = with_cloudwatch_metrics(make_handler(_default_app))
        context = SimpleNamespace(function_name="lamed", function_version=version)
        chance = random.Random(int(version))
        for minute in range(30):
            if minute in outage:
                redis.process.send_signal(signal.SIGSTOP)
            for k in range(per_minute + chance.randrange(per_minute // 4 + 1)):
                clock.now = start + minute * 60 + k * 60 / (per_minute * 1.3)
                query = {"namespace": "shop", "experiment": "checkout", "variant": "ab"[k % 2], "event": "buy",
                         "uuid": f"{version}-{minute}-{k}"}  # fmt: skip
                if k % 9 == 0:
                    query["uuid"] = f"{version}-{minute}-{k - 1}"  # a resend
                if k % 23 == 0:
                    query["namespace"] = "elsewhere"
                handler(proxy_event("GET", "/track", query=query), context)
            if minute in outage:
                redis.process.send_signal(signal.SIGCONT)
        clock.now = start + 30 * 60 + 61
        handler({"lamed-warmup": True}, context)
        observe.install(observe.Observer())
    documents = [json.loads(line) for line in lines]
    body = json.loads(dashboard_body(Names("lamed"), "us-east-1"))
    charts = []
    for widget in body["widgets"]:
        props = widget["properties"]
        series = []
        for (metric_query,) in props["metrics"]:
            expression, label = metric_query["expression"], metric_query["label"].split(" v$")[0]
            name = expression.split('MetricName="')[1].split('"')[0]
            stat = expression.rsplit("', '", 1)[1].split("'")[0]
            for version in ("7", "8"):
                points = [(d["_aws"]["Timestamp"] / 1000, _value(d, name, stat)) for d in documents
                          if d["Version"] == version]  # fmt: skip
                series.append((f"{label} v{version}", points))
        charts.append(chart(props["title"], series, 620, 250, "ms" if "(ms)" in props["title"] else "", dark=False))
    page = ('<html><body style="margin:0;background:#f2f3f3;font-family:sans-serif;padding:8px">'
            '<div style="color:#16191f;font-size:18px;margin:4px 4px 10px">CloudWatch dashboard "lamed" '
            '<span style="font-size:12px;color:#5f6b7a">widgets of the body lamed deploy writes, from the EMF lines of '
            'the handler invoked in process (version 7 stable, version 8 a canary with a Redis outage); drawn by '
            'scripts/dashboard_screenshots.py, not by CloudWatch</span></div>'
            '<div style="display:grid;grid-template-columns:620px 620px;gap:8px">' + "".join(charts) +
            "</div></body></html>")  # fmt: skip
    screenshot(page, DOCS / "cloudwatch-dashboard.png", 1270)


def _value(document: dict, name: str, stat: str) -> float:
    """What CloudWatch makes of one minute's line: a sum, or the p99 of its
    values. Lambda's own Invocations are drawn from the line's Requests; its
    Errors (function errors: an exception, a timeout) stay 0 here, as a 503
    is an answer, not a function error."""
    if name == "Errors":
        return 0.0
    value = document.get("Requests" if name == "Invocations" else name, 0)
    if stat == "p99":
        ordered = sorted(value) if isinstance(value, list) else [value]
        return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return float(value)


def main() -> None:
    with RedisServer() as redis:
        cloudwatch_picture(redis)
        grafana_picture(redis)


if __name__ == "__main__":
    main()
