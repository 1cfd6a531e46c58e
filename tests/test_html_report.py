"""report.html: structure, escaping, self-containment, and a headless-Chromium screenshot."""
from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

from pipelines.config import load_config
from pipelines.html_report import HTML_REPORT_FILE, render_report, write_html_report

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "examples" / "sample.jsonl"
SECRET = "Jane Q. Secretary lives at 12 Hidden Lane"


@pytest.fixture(scope="module")
def real_report(tmp_path_factory):
    """report.json of a real run of the default pipeline on the sample corpus (FnApiRunner)."""
    from pipelines.pipeline import run

    out = tmp_path_factory.mktemp("run")
    result = run([str(SAMPLE)], str(out), load_config(None))
    on_disk = json.loads(Path(result.report_path).read_text())
    assert on_disk == json.loads(json.dumps(result.report))
    return on_disk


def synthetic_report(real: dict) -> dict:
    """A real report plus every section planned for later stages, and hostile strings to escape."""
    report = copy.deepcopy(real)
    report["runner"] = 'Evil<Runner attr="x">&co'
    report["stages"]["traces"] = {
        "before": {"mimic_blank": 412, "i2b2_xml": 57, "presidio_tag": 33, "ssn_mask": 4, "x_mask": 0},
        "after": {"mimic_blank": 0, "i2b2_xml": 0, "presidio_tag": 0, "ssn_mask": 0, "x_mask": 0},
        "documents_with_traces": 120,
    }
    report["stages"]["pii"] = {
        "entities": {"PERSON": 1830, "EMAIL_ADDRESS": 412, "PHONE_NUMBER": 133, "US_SSN": 9, "<b>TYPE</b>": 1},
        "documents_with_pii": 611,
        "scanned_bytes": 12_345_678,
        "operator": "surrogate",
    }
    report["stages"]["dilution"] = {
        "item_frequency_before": {"1": 9120, "2-3": 1410, "4-7": 388, "8-15": 97, "16-31": 31, "32+": 12},
        "item_frequency_after": {"1": 9120, "2-3": 1410, "4-7": 388, "8-15": 140, "16-31": 0, "32+": 0},
        "cap": 8,
        "items_capped": 43,
    }
    report["stages"]["canaries"] = {
        "inserted": 60,
        "replication_rates": {"1": 20, "10": 20, "100": 20},
        "per_group": [{"group": "g<1>", "copies": 1, "documents": 20}, {"group": "g2", "copies": 10,
                                                                           "documents": 200}],
    }
    report["stages"]["substring"] = {
        "bytes_cut": 5_000, "documents_modified": 3,
        "top_spans": [{"span_hash": "ab12", "length": 300, "count": 7, "text": SECRET}],
    }
    report["counts"]["removed"]["<script>alert(1)</script>"] = 2
    report["bytes"]["removed_text"]["<script>alert(1)</script>"] = 100
    report["counts"]["output"] -= 2
    report["future_top_level"] = {"rates": {"a": 0.5, "b": 0.25}, "note": "x < y & z"}
    return report


def _svg_count(page: str) -> int:
    return page.count("<svg ")


def _assert_self_contained(page: str) -> None:
    lowered = page.lower()
    assert "http://" not in lowered and "https://" not in lowered
    assert "@import" not in lowered
    for match in re.finditer(r"""(?:src|href)\s*=\s*["']?([^"'\s>]*)""", lowered):
        assert match.group(1).startswith("data:") or match.group(1).startswith("#"), match.group(0)
    assert "src=" not in lowered.replace("src=\"data:", "")
    assert "<script" not in lowered and "<link" not in lowered and "<iframe" not in lowered
    assert "url(" not in lowered.replace("url(data:", "")


def test_real_run_report(real_report, tmp_path):
    page = render_report(real_report)
    assert page.startswith("<!DOCTYPE html>")
    assert page == render_report(real_report)  # deterministic
    for section in ('id="summary"', 'id="removed"', 'id="stages"', 'id="stage-exact_dedup"', 'id="stage-near_dedup"',
                    'id="timings"', 'id="output"', 'id="config"'):
        assert section in page
    assert "accounting ok" in page
    counts = real_report["counts"]
    assert f"input {counts['input']:,d} = output {counts['output']:,d}" in page
    assert real_report["config_hash"] in page and real_report["runner"] in page
    assert 'aria-label="Duplicate cluster sizes"' in page
    assert 'aria-label="Bytes removed per stage"' in page
    assert 'aria-label="Quarantined records per error code"' in page
    assert "LSH S-curve" in page
    assert _svg_count(page) >= 5 and page.count("<rect ") >= 10
    # the cluster-size histogram has a column per bucket
    for bucket in real_report["stages"]["near_dedup"]["cluster_sizes"]:
        assert f"<title>{bucket}: " in page
    _assert_self_contained(page)
    # no document text: not one line of the sample corpus shows up
    texts = []
    for line in SAMPLE.read_bytes().splitlines():
        try:
            text = json.loads(line).get("text")
        except (ValueError, AttributeError):
            continue
        if isinstance(text, str) and len(text) > 40:
            texts.append(text[:40])
    assert texts and not any(t in page for t in texts)

    path = write_html_report(str(tmp_path), real_report)
    assert path.endswith(HTML_REPORT_FILE)
    assert Path(path).read_text(encoding="utf-8") == page


def test_synthetic_report_with_future_sections(real_report):
    report = synthetic_report(real_report)
    page = render_report(report)
    _assert_self_contained(page)
    for stage in ("traces", "pii", "dilution", "canaries", "substring"):
        assert f'id="stage-{stage}"' in page
    assert page.index('id="stage-near_dedup"') < page.index('id="stage-traces"') < page.index('id="stage-pii"') \
        < page.index('id="stage-dilution"') < page.index('id="stage-canaries"')
    # traces: one grouped before/after chart with a legend; pii: bars per entity type
    assert 'aria-label="De-identification traces before / after"' in page
    assert "<title>mimic_blank · before: 412</title>" in page
    assert 'aria-label="entities"' in page and "<title>PERSON: 1,830</title>" in page
    # dilution: frequency histogram before/after in one chart; canaries: replication histogram
    assert 'aria-label="item frequency before / after"' in page
    assert "<title>8-15 · after: 140</title>" in page
    assert 'aria-label="replication rates"' in page
    assert "<th>group</th>" in page and "g&lt;1&gt;" in page
    assert "12.35 MB" in page  # bytes keys get units
    # an unknown top-level section is drawn generically
    assert 'id="other"' in page and 'aria-label="rates"' in page and "x &lt; y &amp; z" in page
    # escaping everywhere: runner, stage names, entity types
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "Evil&lt;Runner attr=&quot;x&quot;&gt;&amp;co" in page and 'Evil<Runner' not in page
    assert "&lt;b&gt;TYPE&lt;/b&gt;" in page and "<b>TYPE</b>" not in page
    # text under a "text" key never reaches the page
    assert SECRET not in page and html_escaped(SECRET) not in page
    assert _svg_count(page) >= 10


def html_escaped(text: str) -> str:
    import html

    return html.escape(text)


def test_degenerate_reports_render():
    for report in ({}, {"stages": {}, "counts": {}}, {"accounting_ok": False, "counts": {"input": 3, "output": 1,
                                                                                        "removed": {}, "quarantined": 0}},
                   {"stages": {"x": {"empty": {}, "nested": {"deep": {"deeper": 1}}, "list": [1, 2],
                                     "mixed": [{"a": 1}, [2]]}}}):
        page = render_report(report)
        assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
        _assert_self_contained(page)
    assert "accounting VIOLATED" in render_report({"accounting_ok": False})


# --- screenshot -------------------------------------------------------------------------------


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of raw pixel bytes) of an 8-bit non-interlaced PNG, with a minimal decoder."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length = int.from_bytes(data[pos:pos + 4], "big")
        kind = data[pos + 4:pos + 8]
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height = int.from_bytes(header[0:4], "big"), int.from_bytes(header[4:8], "big")
    bit_depth, color_type, interlace = header[8], header[9], header[12]
    assert bit_depth == 8 and interlace == 0, "only 8-bit non-interlaced PNGs"
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color_type]
    raw = zlib.decompress(idat)
    stride = width * channels
    rows, prev = [], bytearray(stride)
    for y in range(height):
        line = raw[y * (stride + 1):(y + 1) * (stride + 1)]
        kind, cur = line[0], bytearray(line[1:])
        for i in range(stride):
            a = cur[i - channels] if i >= channels else 0
            b, c = prev[i], (prev[i - channels] if i >= channels else 0)
            if kind == 1:
                cur[i] = (cur[i] + a) & 255
            elif kind == 2:
                cur[i] = (cur[i] + b) & 255
            elif kind == 3:
                cur[i] = (cur[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(cur))
        prev = cur
    return width, height, rows


@pytest.mark.skipif(_chromium() is None, reason="headless Chromium not installed (Debian: apt-get install -y chromium)")
@pytest.mark.parametrize("which", ["real", "synthetic"])
def test_screenshot_in_headless_chromium(real_report, tmp_path, which):
    report = real_report if which == "real" else synthetic_report(real_report)
    page = Path(write_html_report(str(tmp_path), report))
    shot = tmp_path / f"report-{which}.png"
    proc = subprocess.run(
        [_chromium(), "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars", f"--screenshot={shot}",
         "--window-size=1200,2000", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert shot.exists(), f"chromium wrote no screenshot (exit {proc.returncode}): {proc.stderr[-2000:]}"
    data = shot.read_bytes()
    assert len(data) > 20_000, f"screenshot suspiciously small: {len(data)} bytes"
    try:
        from PIL import Image

        with Image.open(shot) as image:
            assert image.size == (1200, 2000)
            colors = image.convert("RGB").getcolors(maxcolors=1 << 20)
            distinct = len(colors) if colors is not None else 1 << 20
            # the top 300 pixel rows hold the header and the summary cards: not blank
            top_colors = image.convert("RGB").crop((0, 0, 1200, 300)).getcolors(maxcolors=1 << 20)
            top_distinct = len(top_colors) if top_colors is not None else 1 << 20
    except ImportError:
        width, height, rows = png_pixels(data)
        assert (width, height) == (1200, 2000)
        distinct = len({row[i:i + 3] for row in rows[::7] for i in range(0, len(row), 3 * 5)})
        top_distinct = len({row for row in rows[:300]})
    assert distinct > 50, f"screenshot has only {distinct} colors"
    assert top_distinct > 5
    # the PNG header says the size chromium was asked for
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) == (1200, 2000)


def test_minimal_png_decoder():
    """The fallback decoder (used where PIL is missing) reads a PNG written with every filter type."""
    import struct

    width, height, channels = 4, 5, 3
    rows = [bytes(v & 255 for x in range(width) for v in (x * 40 + y, y * 70 + x, (x + y) * 50))
            for y in range(height)]

    def paeth(a, b, c):
        p = a + b - c
        pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
        return a if pa <= pb and pa <= pc else b if pb <= pc else c

    raw, prev = b"", bytes(width * channels)
    for kind, row in enumerate(rows):  # filter type y for row y: 0 none, 1 sub, 2 up, 3 average, 4 paeth
        out = bytearray()
        for i, value in enumerate(row):
            a = row[i - channels] if i >= channels else 0
            b, c = prev[i], (prev[i - channels] if i >= channels else 0)
            predictor = (0, a, b, (a + b) // 2, paeth(a, b, c))[kind]
            out.append((value - predictor) & 255)
        raw += bytes([kind]) + bytes(out)
        prev = row

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    assert png_pixels(png) == (width, height, rows)
