from __future__ import annotations

import base64
import re

from pipeline.layout import Layout
from pipeline.warehouse.report import render
from pipeline.synth import generate
from tests.synthetic import run_batch


def test_report_is_self_contained_with_charts_and_limitations(tmp_path):
    raw, data = tmp_path / "raw", tmp_path / "data"
    generate(raw, users=150, days=60, seed=12)
    run_batch(raw, data)
    page = render(Layout(data).release)
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) >= 3
    assert all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "<h2>Limitations</h2>" in page and "count cells are suppressed" in page
    # safety up front: never-connected and within-target shares before benefit and equity
    assert page.index("never connected") < page.index("Benefit and equity")
    assert "reached a human within 15 min" in page and "reached a human within 60 min" in page
    assert "Crises the AI may have missed" in page
    assert "Consent gap" in page and "version not accepted" in page
    # a suppressed figure is said, not dropped
    assert "suppressed (fewer than 10)" in page
    assert "allowed their data to be used for research" in page
    assert "http://" not in page and "https://" not in page  # nothing loaded from outside
    user_ids = {l.split('"user_id": "')[1].split('"')[0]
                for f in raw.rglob("*.jsonl.gz") for l in __import__("gzip").decompress(f.read_bytes()).decode().splitlines()
                if '"user_id": "' in l}
    assert not [u for u in user_ids if u in page]
