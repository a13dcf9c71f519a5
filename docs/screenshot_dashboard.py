"""Take docs/dashboard.png: the /daskgd page in headless Chromium during real fits.

Two processes fit on one LocalCluster at once (this one, and a second client in a
subprocess), so the page shows two clients side by side; the screenshot is taken
while the longer fit still runs, so its row has a time left.

    python docs/screenshot_dashboard.py [--chromium /usr/bin/chromium]

Needs Debian's ``chromium`` package (``apt-get install chromium``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import warnings
from pathlib import Path

import dask.array as da
import numpy as np

import daskgd
from daskgd.cluster import close_client, start_local_cluster

OUTPUT = Path(__file__).parent / "dashboard.png"

SECOND_CLIENT = """
import sys, warnings
import dask.array as da, numpy as np
from distributed import Client
import daskgd
warnings.simplefilter("ignore")
with Client(sys.argv[1]):
    rng = np.random.default_rng(1)
    X = da.from_array(rng.normal(size=(200_000, 10)), chunks=25_000)
    y = X @ rng.normal(size=10) + da.from_array(rng.normal(size=200_000), chunks=25_000)
    daskgd.Ridge(solver="gd", max_iter=40, tol=0).fit(X, y)
"""


def screenshot(chromium: str, url: str, output: Path, wait_seconds: float = 6.0) -> None:
    """Render ``url`` in headless Chromium for ``wait_seconds`` of real time, then capture it.

    Chromium's own ``--screenshot`` runs on virtual time, which stops Bokeh's
    websocket before the page has drawn; so this drives Chromium over the DevTools
    protocol (with tornado's websocket client, which distributed already needs).
    """
    port_file = Path(tempfile.mkdtemp()) / "profile"
    browser = subprocess.Popen(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1400,1000",
            "--remote-debugging-port=0",
            f"--user-data-dir={port_file}",
            "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        active = port_file / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not active.exists() or len(active.read_text().split()) < 2:
            if time.monotonic() > deadline:
                raise RuntimeError("Chromium did not open its DevTools port")
            time.sleep(0.1)
        port = active.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list") as response:
            target = next(t for t in json.loads(response.read()) if t["type"] == "page")
        png = asyncio.run(_capture(target["webSocketDebuggerUrl"], url, wait_seconds))
        output.write_bytes(png)
    finally:
        browser.terminate()
        browser.wait(timeout=30)


async def _capture(debugger_url: str, url: str, wait_seconds: float) -> bytes:
    from tornado.websocket import websocket_connect

    connection = await websocket_connect(debugger_url, max_message_size=2**28)
    counter = 0

    async def call(method: str, **params: object) -> dict:
        nonlocal counter
        counter += 1
        await connection.write_message(
            json.dumps({"id": counter, "method": method, "params": params})
        )
        while True:
            message = json.loads(await connection.read_message())
            if message.get("id") == counter:
                return message.get("result", {})

    await call("Page.enable")
    await call("Page.navigate", url=url)
    await asyncio.sleep(wait_seconds)  # real time: the websocket delivers the document
    result = await call("Page.captureScreenshot", format="png")
    connection.close()
    return base64.b64decode(result["data"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    client = start_local_cluster(n_workers=2, threads_per_worker=1)
    try:
        page = client.dashboard_link.rsplit("/", 1)[0] + "/daskgd"
        rng = np.random.default_rng(0)
        X = da.from_array(rng.normal(size=(400_000, 10)), chunks=25_000)
        y = (X @ rng.normal(size=10) + da.random.logistic(size=400_000, chunks=25_000)) > 0
        other = subprocess.Popen([sys.executable, "-c", SECOND_CLIENT, client.scheduler.address])
        fit = threading.Thread(
            target=daskgd.LogisticRegression(solver="gd", max_iter=150, tol=0).fit, args=(X, y)
        )
        fit.start()
        time.sleep(12)  # let both fits draw a few dozen iterations
        screenshot(args.chromium, page, OUTPUT)
        fit.join()
        other.wait()
    finally:
        close_client(client)
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
