"""End to end: `ktape-analyze report` on a real recording of -e
bio,sched,profile,exec (direct writes, a busy loop, a few execs), then the
page rendered by headless Chromium (Debian's `chromium`, installed by
`make deps`): no console message, the numbers of the text reports in the
rendered DOM, a screenshot that is not blank."""

import base64
import os
import pty
import html as html_lib
import re
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import pyarrow.parquet as pq
import pytest
from PIL import Image

from conftest import ANALYZE, Recorder, analyze, analyze_json, on_root_disk

WRITES = 2000


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    d = on_root_disk(tmp_path_factory, "report")
    out = d / "rec.parquet"
    rec = Recorder(out, events="bio,sched,profile,exec")
    subprocess.run(["dd", "if=/dev/zero", f"of={d / 'f'}", "bs=4k", f"count={WRITES}",
                    "oflag=direct", "status=none"], check=True)
    subprocess.run(["timeout", "1", "sh", "-c", "while :; do :; done"])
    for _ in range(5):
        subprocess.run(["true"], check=True)
    rec.stop()
    html = d / "report.html"
    p = analyze("report", "-o", html, out)
    yield out, html, p
    (d / "f").unlink(missing_ok=True)


class Dom(HTMLParser):
    """Text of the elements with an id, and every src/href."""

    def __init__(self):
        super().__init__()
        self.by_id, self.links, self.tags, self._open = {}, [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append(tag)
        for k in ("src", "href"):
            if a.get(k) is not None:
                self.links.append(a[k])
        if "id" in a:
            self.by_id[a["id"]] = ""
            self._open.append((tag, a["id"]))

    def handle_endtag(self, tag):
        if self._open and self._open[-1][0] == tag:
            self._open.pop()

    def handle_data(self, data):
        for _, i in self._open:
            self.by_id[i] += data


def parse(text):
    d = Dom()
    d.feed(text)
    return d


def chromium(tmp_path, *args):
    return subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         f"--user-data-dir={tmp_path / 'chromium'}", "--enable-logging=stderr", "--v=0", *args],
        capture_output=True, text=True, timeout=180)


def hist_total(report, out):
    return sum(h["total"] for h in analyze_json(report, out)["histograms"])


def test_report_is_self_contained(page):
    out, html, p = page
    assert "wrote" in p.stderr and "failed" not in p.stderr, p.stderr
    dom = parse(html.read_text())
    # Nothing to fetch: every link is an anchor on the page or inline data.
    assert dom.links, "the page links its sections"
    for link in dom.links:
        assert link.startswith("#") or link.startswith("data:"), link
    assert "link" not in dom.tags
    # Every section of a recorded family, in order, with the commands shown.
    text = html.read_text()
    for section in ("summary", "bio", "sched", "profile", "exec"):
        assert f'<section id="{section}">' in text, section
    for command in ("ktape-analyze biolatency", "ktape-analyze heatmap --of bio",
                    "ktape-analyze runqlat", "ktape-analyze flamegraph",
                    "ktape-analyze heatmap --of profile", "ktape-analyze execsnoop -x"):
        assert f"$ {command} " in text, command


def test_rendered_dom_has_the_reports_numbers(page, tmp_path):
    out, html, _ = page
    r = chromium(tmp_path, "--dump-dom", html.as_uri())
    assert r.returncode == 0, r.stderr
    # The page and the flame graphs' own scripts say nothing to the console
    # (Chromium logs every message, errors included, as CONSOLE).
    console = [line for line in r.stderr.splitlines() if ":CONSOLE" in line]
    assert not console, console
    dom = parse(r.stdout)
    summary = analyze_json("summary", out)
    assert dom.by_id["host"] == summary["recordings"][0]["host"]
    bio_rows = pq.read_table(out / "bio").num_rows
    assert int(dom.by_id["bio-total"]) == hist_total("biolatency", out) == bio_rows
    assert bio_rows >= WRITES
    assert int(dom.by_id["runqlat-total"]) == hist_total("runqlat", out) > 0
    assert int(dom.by_id["rows-total"]) == sum(t["rows"] for t in summary["tables"])
    assert int(dom.by_id["lost-total"]) == summary["lost"]
    # The biolatency block is the text report, line for line.
    text = analyze("biolatency", out).stdout
    assert text.strip() in html_lib.unescape(r.stdout)


def test_flame_graph_is_inferno_svg_with_every_sample(page):
    out, html, _ = page
    src = re.search(r'<iframe class="flame"[^>]* src="data:image/svg\+xml;base64,([^"]+)"',
                    html.read_text()).group(1)
    svg = base64.b64decode(src)
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert b"function init(evt)" in svg, "inferno's search and zoom script is inline"
    samples = pq.read_table(out / "profile").num_rows
    assert f": {samples} samples".encode() in svg
    # The same bytes as `flamegraph -o -`, which are the file's.
    assert svg == analyze("flamegraph", "-o", "-", out).stdout.encode()


def test_heatmaps_are_inline_and_equal_to_the_heatmap_report(page, tmp_path):
    out, html, _ = page
    text = html.read_text()
    svg = tmp_path / "bio.svg"
    analyze("heatmap", "--of", "bio", "-o", svg, out)
    body = svg.read_text()
    assert analyze("heatmap", "--of", "bio", "-o", "-", out).stdout == body
    assert body[body.index("<svg"):] in text


def test_screenshot_is_not_blank(page, tmp_path):
    _, html, _ = page
    png = tmp_path / "report.png"
    r = chromium(tmp_path, "--window-size=1280,2400", f"--screenshot={png}", html.as_uri())
    assert r.returncode == 0 and png.exists(), r.stderr
    im = Image.open(png).convert("RGB")
    assert im.size == (1280, 2400)
    small = im.resize((128, 240))
    raw = small.tobytes()
    pixels = [tuple(raw[i:i + 3]) for i in range(0, len(raw), 3)]
    colours = len(set(pixels))
    not_background = sum(1 for p in pixels if sum(abs(a - b) for a, b in zip(p, (246, 247, 249))) > 30)
    assert colours > 50, colours
    assert not_background > len(pixels) // 10, not_background


def test_progress_bar_only_on_a_terminal(page):
    """With stderr a terminal the bar is drawn (at once here, instead of
    after a second) and cleared before the report; into a pipe, never."""
    out, _, _ = page
    env = dict(os.environ, KTAPE_PROGRESS_DELAY_MS="0")
    master, slave = pty.openpty()
    p = subprocess.Popen([str(ANALYZE), "runqlat", str(out)], stdout=subprocess.PIPE,
                         stderr=slave, env=env)
    os.close(slave)
    tty = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        tty += chunk
    os.close(master)
    stdout = p.stdout.read()
    assert p.wait() == 0
    assert b"row groups" in tty, tty
    # The bar's line is cleared before anything else reaches the terminal.
    after = tty[tty.rindex(b"row groups"):]
    assert b"\r\x1b[2K" in after, after
    assert stdout.decode() == analyze("runqlat", out).stdout
    piped = subprocess.run([str(ANALYZE), "runqlat", str(out)], capture_output=True, env=env)
    assert piped.returncode == 0 and b"row groups" not in piped.stderr
    assert b"\x1b[" not in piped.stderr
