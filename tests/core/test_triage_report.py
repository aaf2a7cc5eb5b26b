"""Known issues (triage.known) and the report (triage.report):
clusters.json, the Markdown summary, the self-contained HTML page, and the
escaping of every string that came from a library, a corpus or a user."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from infra.errors import InvalidArgument
from miner.records import CallRecord, Literal, TensorSpec
from runner.contract import Boundary, judge
from runner.observation import ArrayLeaf, Observation, Outcome, ScalarLeaf, SeqNode
from seamfuzz.store import CampaignStore, NewCase, case_id
from seamfuzz.triaging import piles_of, report_data
from triage.cluster import Cluster, Pile, cluster
from triage.known import KnownEntry, KnownIssues, KnownSubject, load_known, parse_known
from triage.report import (
    ClusterRow,
    Example,
    ReportData,
    ShrinkStats,
    Totals,
    clusters_json,
    describe_observation,
    not_judged_json,
    render_html,
    render_markdown,
    row_for,
    write_report,
)
from triage.signature import Finding

REF, TGT = "torch.eager", "torch.compile:backend=aot_eager"
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(2)>'


def arr(values, dtype: str = "float32") -> ArrayLeaf:
    return ArrayLeaf.from_numpy(np.array(values, dtype=dtype))


def make_finding(kind: str, api: str = "torch.cumsum", msg: str = "bad size 3",
                 case_id: str = "c1", target: str = TGT) -> Finding:
    rec = CallRecord(api, "torch", args=(TensorSpec("torch", (4,), "float32"),),
                     kwargs=(("dim", Literal(0)),))
    ref = Observation(REF, Outcome.RETURNED, arr([0.5, 1.0, 1.5, 2.0]))
    if kind == "status":
        tgt = Observation(target, Outcome.RAISED, error_type="RuntimeError", error_message=msg)
    elif kind == "crash":
        tgt = Observation(target, Outcome.CRASHED, detail="killed by signal 11")
    else:
        tgt = Observation(target, Outcome.RETURNED, arr([0.5, 1.0, 1.5, -2.0]))
    return Finding(case_id, api, "torch", rec, 42, REF, target, kind, f"{kind}: {msg}", "",
                   ref, tgt)


def one_cluster(kind: str = "status", **kw) -> Cluster:
    (c,) = cluster([make_finding(kind, **kw)])
    return c


# ---------------------------------------------------------------------------
# Known issues
# ---------------------------------------------------------------------------

KNOWN = """
[[known]]
reason = "inductor cumsum sign bug"
link = "https://github.com/pytorch/pytorch/issues/1"
api = "torch.cum*"
target = "torch.compile*"
kind = "value"

[[known]]
reason = "size checks differ"
message = "bad size <n>"

[[known]]
reason = "pinned"
signature = "000000000000"
"""


def test_known_matching(tmp_path: Path) -> None:
    path = tmp_path / "known.toml"
    path.write_text(KNOWN, encoding="utf-8")
    known = load_known(path)
    assert len(known) == 3 and known.source == str(path)
    value = one_cluster("value")
    hit = known.match(value)
    assert hit is not None and hit.reason == "inductor cumsum sign bug" and hit.number == 1
    assert hit.link.startswith("https://")
    status = one_cluster("status", api="torch.bmm")
    assert known.match(status).reason == "size checks differ"  # normalized message
    assert known.match(one_cluster("crash", api="torch.sort")) is None
    assert known.match(one_cluster("value", target="tf.xla")) is None  # target glob
    pinned = parse_known(f'[[known]]\nreason = "r"\nsignature = "{status.id}"\n')
    assert pinned.match(status) is not None and pinned.match(value) is None
    new, matched = known.split([value, status, one_cluster("crash")])
    assert [c.kind for c in new] == ["crash"]
    assert [(c.kind, e.number) for c, e in matched] == [("value", 1), ("status", 2)]
    assert KnownIssues().match(value) is None
    built = KnownIssues((KnownEntry(reason="r", message=r"bad size <n>$"),))
    assert built.match(status) is not None
    with pytest.raises(InvalidArgument, match="bad message regex"):
        KnownEntry(reason="r", message="(")


def test_known_message_searches_the_raw_detail() -> None:
    known = parse_known('[[known]]\nreason = "r"\nmessage = "bad size 3$"\n')
    assert known.match(one_cluster("status")) is not None


@pytest.mark.parametrize("text, words", [
    ('[[known]]\napi = "torch.*"\n', ["entry 1", "missing reason"]),
    ('[[known]]\nreason = "  "\napi = "x"\n', ["entry 1", "missing reason"]),
    ('[[known]]\nreason = "r"\napi = "x"\n[[known]]\nreason = "r"\nap = "x"\n',
     ["entry 2", "unknown key", "ap"]),
    ('[[known]]\nreason = "r"\nmessage = "(unclosed"\n', ["entry 1", "bad message regex"]),
    ('[[known]]\nreason = "r"\nkind = "agree"\n', ["entry 1", "kind 'agree'"]),
    ('[[known]]\nreason = "r"\n', ["entry 1", "no matcher"]),
    ('[[known]]\nreason = "r"\napi = 3\n', ["entry 1", "api must be a string"]),
    ('known = "x"\n', ["array of tables"]),
    ('[[issue]]\nreason = "r"\n', ["unknown top-level key", "issue"]),
    ('[[known]\nreason = ', ["not valid TOML"]),
])
def test_known_errors_name_file_and_entry(tmp_path: Path, text: str, words: list[str]) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InvalidArgument) as info:
        load_known(path)
    message = str(info.value)
    assert str(path) in message
    for word in words:
        assert word in message


def test_known_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="cannot read known-issues file"):
        load_known(tmp_path / "nope.toml")


# ---------------------------------------------------------------------------
# Report data
# ---------------------------------------------------------------------------


def _row(id_: str, kind: str, severity: int, cases: int, *, api: str = "torch.cumsum",
         known: bool = False, repro: str = "", axis: str = "", reason: str = "",
         link: str = "", message: str = "", call: str = "torch.cumsum(x, dim=0)") -> ClusterRow:
    return ClusterRow(
        id=id_, api=api, kind=kind, reference=REF, target=TGT, axis=axis, cases=cases,
        signature={"api": api, "kind": kind, "error_type": "RuntimeError" if message else "",
                   "message": message, "pattern": [] if message else ["large"]},
        repro=repro or f"repros/{id_}.py", known=known, known_reason=reason, known_link=link,
        severity=severity,
        example={"call": call, "args": {"kwargs": [["dim", {"t": "lit", "v": 0}]]},
                 "reference": "returned float32[4] [0.5, 1, 1.5, 2]",
                 "target": "raised RuntimeError: " + message if message else "returned ...",
                 "seed": 7},
    )


def sample(**overrides) -> ReportData:
    rows = [
        _row("aaaaaaaaaaaa", "status", 1, 9, message="bad size <n>"),
        _row("bbbbbbbbbbbb", "crash", 6, 1, api="torch.sort"),
        _row("cccccccccccc", "value", 4, 3, axis="backend"),
        _row("dddddddddddd", "value", 4, 5, api="torch.cumprod", axis="backend"),
        _row("eeeeeeeeeeee", "shape", 2, 2, api="tf.math.reduce_max", known=True,
             reason="XLA keeps dims", link="https://example.org/issue/1"),
    ]
    fields = {
        "title": "campaign demo",
        "settings": {"seed": 1, "modes": ["torch.compile"], "budget": "5 min"},
        "versions": {"torch": "2.4.1", "tensorflow": "2.16.2"},
        "device": "CPU",
        "totals": Totals(apis=12, cases=400, valid=300,
                      frameworks={"torch": (200, 250), "tensorflow": (100, 150)}),
        "boundaries": {f"{REF} -> {TGT}": {"agree": 280, "value": 8, "status": 9, "crash": 1,
                                        "invalid": 100},
                    "tf.eager -> tf.xla": {"agree": 98, "shape": 2}},
        "clusters": rows,
    }
    fields.update(overrides)
    return ReportData(**fields)


def test_row_for_cluster_and_known_entry() -> None:
    c = one_cluster("status", msg="shape '[2, 3]' is invalid")
    entry = parse_known('[[known]]\nreason = "r"\nlink = "https://x.org/1"\napi = "torch.*"\n')
    row = row_for(c, axis="dynamic", repro="repros/a.py", known=entry.match(c))
    assert (row.id, row.kind, row.cases, row.axis, row.repro) == (c.id, "status", 1, "dynamic",
                                                                 "repros/a.py")
    assert row.known and row.known_reason == "r" and row.known_link == "https://x.org/1"
    assert row.signature.message == "shape '<shape>' is invalid"
    assert row.signature == c.signature
    ex = row.example
    assert ex.call == "torch.cumsum(Tensor[torch 4 float32 normal], dim=0)"
    assert ex.reference == "returned float32[4] [0.5, 1.0, 1.5, 2.0]"
    assert ex.target == "raised RuntimeError: shape '[2, 3]' is invalid"
    assert ex.seed == 42 and ex.args["kwargs"] == [["dim", {"t": "lit", "v": 0}]]
    assert ex.case_id == "c1" and ex.detail == "status: shape '[2, 3]' is invalid"
    json.dumps(row.to_json())


def test_describe_observation() -> None:
    tup = Observation(REF, Outcome.RETURNED,
                      SeqNode("namedtuple:max", (arr([0.1, 0.2]), arr([1, 0], "int64"))))
    assert describe_observation(tup) == "returned max(float32[2] [0.1, 0.2], int64[2] [1, 0])"
    assert describe_observation(tup, "[1]").endswith("; at [1]: int64[2] [1, 0]")
    big = Observation(REF, Outcome.RETURNED, arr(np.arange(10), "int32"))
    assert describe_observation(big) == "returned int32[10] [0, 1, 2, 3, ...]"
    assert describe_observation(Observation(REF, Outcome.RETURNED, ScalarLeaf(None))) == \
        "returned None"
    hung = Observation(REF, Outcome.TIMEOUT, detail="no result after 60 s")
    assert describe_observation(hung) == "timed out (no result after 60 s)"
    long = Observation(REF, Outcome.RAISED, error_type="E", error_message="x" * 1000)
    assert len(describe_observation(long)) <= 240


# ---------------------------------------------------------------------------
# clusters.json and Markdown
# ---------------------------------------------------------------------------


def test_clusters_json_order_and_fields() -> None:
    out = clusters_json(sample())
    assert [o["id"][0] for o in out] == ["b", "d", "c", "a", "e"]  # known last
    required = {"id", "api", "kind", "reference", "target", "axis", "cases", "signature",
                "repro", "known", "example"}
    for o in out:
        assert required <= set(o)
        assert isinstance(o["cases"], int) and isinstance(o["known"], bool)
    assert out[-1]["known"] and out[-1]["known_reason"] == "XLA keeps dims"
    assert out[0]["boundary"] == f"{REF} -> {TGT}"
    json.dumps(out, allow_nan=False)


def test_markdown_summary() -> None:
    md = render_markdown(sample())
    assert md.startswith("# campaign demo\n")
    assert "**12 APIs, 400 cases, 300 valid (75.0%)**" in md
    assert "torch 80.0% (200/250)" in md
    assert "**20 findings in 5 clusters** (4 new, 1 known; 4.0 findings per cluster)" in md
    assert "| boundary | crash | value | shape | status | agree | invalid | total |" in md
    assert f"| `{REF} -> {TGT}` | 1 | 8 | 0 | 9 | 280 | 100 | 398 |" in md
    new_table = md.split("## New clusters")[1].split("## Known clusters")[0]
    apis = re.findall(r"^\| \d+ \| (\w+) \| `([^`]+)`", new_table, flags=re.MULTILINE)
    assert apis == [("crash", "torch.sort"), ("value", "torch.cumprod"),
                    ("value", "torch.cumsum"), ("status", "torch.cumsum")]
    assert "`repros/bbbbbbbbbbbb.py`" in new_table
    known = md.split("## Known clusters")[1]
    assert "XLA keeps dims ([link](<https://example.org/issue/1>))" in known
    assert "tf.math.reduce_max" not in new_table


def test_markdown_escapes_cells() -> None:
    rows = [_row("aaaaaaaaaaaa", "status", 1, 1, message=f"a|b {SCRIPT}", known=True,
                 reason=f"{IMG} | x", link="javascript:alert(1)")]
    md = render_markdown(sample(clusters=rows, title=SCRIPT))
    assert SCRIPT not in md and "<img" not in md
    assert "javascript:" not in md
    assert "&quot;&gt;&lt;img" not in md  # quotes need no escaping in Markdown text
    assert "&lt;img src=x onerror=alert(2)&gt; \\| x" in md


# ---------------------------------------------------------------------------
# HTML
# ---------------------------------------------------------------------------


def test_html_is_self_contained_and_complete() -> None:
    page = render_html(sample())
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # No network: no external resources of any kind.
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""",
                         page.replace('href="https://example.org/issue/1"', ""))
    assert "@import" not in page and "<link" not in page and "url(" not in page
    assert page.count("<script") == 1
    # The CSP names the page's own script by hash.
    script = re.search(r"<script>(.*?)</script>", page, flags=re.DOTALL).group(1)
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]*)"', page).group(1)
    assert f"script-src 'sha256-{digest}'" in html.unescape(csp)
    assert "default-src 'none'" in html.unescape(csp)
    assert "document.body.dataset.ready" in script
    # Charts: one stacked bar chart per boundary, one per axis, with a legend.
    assert page.count('<svg class="chart"') == 2
    assert "Verdicts per boundary" in page and "Clusters per axis" in page
    assert "(not attributed)" in page and "backend" in page
    assert '<ul class="legend">' in page
    # Every cluster, most severe first; known ones apart.
    new_part, known_part = page.split('id="known"')
    order = re.findall(r'id="c-(\w+)"', new_part)
    assert order == ["bbbbbbbbbbbb", "dddddddddddd", "cccccccccccc", "aaaaaaaaaaaa"]
    assert re.findall(r'id="c-(\w+)"', known_part) == ["eeeeeeeeeeee"]
    assert "XLA keeps dims" in known_part and 'href="https://example.org/issue/1"' in known_part
    assert 'href="repros/bbbbbbbbbbbb.py"' in new_part
    assert "torch.cumsum(x, dim=0)" in new_part and "seed 7" in new_part
    assert ">75.0%<" in page and "2.16.2" in page


def test_html_is_deterministic() -> None:
    assert render_html(sample()) == render_html(sample())


def test_html_escapes_untrusted_text() -> None:
    evil = f"{SCRIPT}{IMG}"
    rows = [
        _row("aaaaaaaaaaaa", "status", 1, 2, api=f"torch.{evil}", message=evil,
             call=f"torch.x({evil})", axis=evil, repro=f"repros/{IMG}.py"),
        _row("bbbbbbbbbbbb", evil, 0, 1, api=evil),
        _row("cccccccccccc", "shape", 2, 1, known=True, reason=evil,
             link=f"javascript:{SCRIPT}"),
        _row("dddddddddddd", "shape", 2, 1, known=True, reason="r",
             link=f"https://example.org/{IMG}"),
    ]
    data = sample(
        title=evil, device=evil, clusters=rows,
        settings={evil: evil, "nested": {"k": evil}},
        versions={evil: evil},
        boundaries={evil: {evil: 3, "agree": 1}},
        totals=Totals(1, 2, 1, {evil: (1, 2)}),
        generated=evil,
    )
    page = render_html(data)
    assert SCRIPT not in page
    assert "<img" not in page
    assert page.count("<script") == 1
    assert 'href="javascript' not in page  # shown as text, not linked
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&quot;&gt;&lt;img src=x onerror=alert(2)&gt;" in page
    # A repro path with odd characters is percent-encoded in its href.
    assert 'href="repros/%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert%282%29%3E.py"' in page
    # Markdown: raw text only inside code spans, which renderers show verbatim.
    md = render_markdown(data)
    outside_code = re.sub(r"(`+)(?:(?!\1).)+\1", "", md)
    assert "<img" not in outside_code and "<script" not in outside_code
    assert "&lt;script&gt;" in outside_code
    # clusters.json is data: the strings are kept exactly.
    assert clusters_json(data)[0]["api"] == f"torch.{evil}"


def test_unsafe_repro_paths_are_not_linked() -> None:
    for path in ("/etc/passwd", "../outside.py", "javascript:alert(1)", "C:\\x.py"):
        page = render_html(sample(clusters=[_row("aaaaaaaaaaaa", "value", 4, 1, repro=path)]))
        assert 'class="repro"' not in page, path


def test_empty_report_renders() -> None:
    data = sample(clusters=[], boundaries={}, settings={}, versions={},
                  totals=Totals(0, 0, 0))
    page = render_html(data)
    assert "No verdicts." in page and "No clusters." in page
    md = render_markdown(data)
    assert "None." in md and "n/a" in md
    assert clusters_json(data) == []


def test_write_report(tmp_path: Path) -> None:
    paths = write_report(sample(), tmp_path / "out")
    assert sorted(paths) == ["clusters.json", "not_judged.json", "report.html", "summary.md"]
    assert json.loads(paths["not_judged.json"].read_text()) == []
    assert json.loads(paths["clusters.json"].read_text())[0]["id"] == "bbbbbbbbbbbb"
    assert paths["report.html"].read_text().startswith("<!DOCTYPE html>")
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


def test_pipeline_from_findings() -> None:
    findings = [make_finding("value", case_id=f"v{i}") for i in range(3)]
    findings += [make_finding("crash", api="torch.sort", case_id="k1")]
    known = parse_known('[[known]]\nreason = "known crash"\nkind = "crash"\n')
    rows = [row_for(c, known=known.match(c), repro=f"repros/{c.id}.py")
            for c in cluster(findings)]
    data = sample(clusters=rows)
    out = clusters_json(data)
    assert [(o["kind"], o["cases"], o["known"]) for o in out] == [("value", 3, False),
                                                                  ("crash", 1, True)]
    assert "large, sign" in render_html(data)


# ---------------------------------------------------------------------------
# Typed cluster rows
# ---------------------------------------------------------------------------


def _full_row() -> ClusterRow:
    f = make_finding("value")
    (c,) = cluster([f])
    shrunk = Finding("c1", f.api, "torch", CallRecord(f.api, "torch", args=(
        TensorSpec("torch", (1,), "float32"),)), 3, REF, TGT, "value", f.detail, "",
        f.ref_obs, f.tgt_obs)
    return row_for(c, axis="inductor+layout", repro="repros/x.py",
                   known=KnownEntry(reason="r", link="https://x.org/1", api="torch.*"),
                   probes=(("torch.compile:backend=eager", "agree"), ("float64", "value")),
                   shrink=ShrinkStats(12, 3, 1.25, False), shrunk=shrunk)


def test_cluster_row_round_trips_through_clusters_json() -> None:
    row = _full_row()
    obj = json.loads(json.dumps(row.to_json()))
    assert obj["probes"] == [["torch.compile:backend=eager", "agree"], ["float64", "value"]]
    assert obj["shrink"] == {"tried": 12, "kept": 3, "seconds": 1.2, "timed_out": False}
    assert obj["shrunk"]["seed"] == 3 and obj["summary"] == row.signature.summary()
    back = ClusterRow.from_json(obj)
    assert back == replace(row, shrink=ShrinkStats(12, 3, 1.2, False))
    assert isinstance(back.signature, type(row.signature)) and isinstance(back.example, Example)


def test_cluster_row_reads_an_old_clusters_json_object() -> None:
    old = {"id": "aaaaaaaaaaaa", "api": "torch.cumsum", "kind": "status",
           "reference": REF, "target": TGT, "boundary": f"{REF} -> {TGT}", "axis": "",
           "cases": 2, "severity": 1, "signature": {"api": "torch.cumsum", "kind": "status",
                                                    "message": "bad size <n>"},
           "summary": "x", "repro": "", "known": True, "known_reason": "r", "known_link": "",
           "example": {"call": "torch.cumsum(x)", "args": {}, "reference": "returned ...",
                       "target": "raised ...", "seed": 7}}
    row = ClusterRow.from_json(old)
    assert (row.signature.message, row.example.call, row.example.seed) == \
        ("bad size <n>", "torch.cumsum(x)", 7)
    assert row.known and row.probes == () and row.shrink is None and row.shrunk_record is None
    with pytest.raises(ValueError, match="malformed cluster row"):
        ClusterRow.from_json({"id": "x"})


def test_cluster_row_round_trips_through_the_campaign_store(tmp_path: Path) -> None:
    row = _full_row()
    (c,) = cluster([make_finding("value")])
    with CampaignStore(tmp_path) as store:
        store.put_clusters([(c, row.store_info())])
        (stored,) = store.clusters()
    back = ClusterRow.from_stored(stored)
    assert back == replace(row, shrink=ShrinkStats(12, 3, 1.2, False))


def test_known_issues_match_typed_records() -> None:
    known = parse_known('[[known]]\nreason = "r"\nmessage = "bad size 3$"\n')
    c = one_cluster("status")
    row = row_for(c)
    assert known.match(row) is not None and known.match(c) is not None
    assert c.known_subject() == row.known_subject()
    assert known.match(KnownSubject(c.id, c.api, REF, TGT, "status", "", "no")) is None
    assert row.with_known(known.match(row)).known_reason == "r"
    assert not row.with_known(None).known
    new, matched = known.split([row])
    assert new == [] and matched[0][0] is row


# ---------------------------------------------------------------------------
# Not judged: the piles the contract set aside, from a campaign store
# ---------------------------------------------------------------------------

B = Boundary(REF, TGT)
MODES = (REF, TGT)


def _raised(mode: str, error_type: str, message: str) -> Observation:
    return Observation(mode, Outcome.RAISED, error_type=error_type, error_message=message)


def _unjudged_store(tmp_path: Path) -> tuple[CampaignStore, dict[str, str]]:
    """A campaign with one agreeing case and cases in every pile."""
    store = CampaignStore(tmp_path)
    ids: dict[str, str] = {}
    ok = arr([1.0, 2.0])

    def add(name: str, api: str, n: int, ref: Observation, tgt: Observation,
            target: str = TGT) -> None:
        rec = CallRecord(api, "torch", args=(TensorSpec("torch", (n,), "float32"),))
        cid = case_id(rec, n)
        ids[name] = cid
        store.add_cases([NewCase(cid, rec, n, "mutant", (REF, target))])
        store.put_result(cid, (ref, tgt), [judge(Boundary(REF, target), ref, tgt)])

    add("agree", "torch.abs", 2, Observation(REF, Outcome.RETURNED, ok),
        Observation(TGT, Outcome.RETURNED, ok))
    # invalid, one reason over two APIs and sizes: numbers are normalized away.
    for api, n in (("torch.bmm", 2), ("torch.bmm", 3), ("torch.mm", 4)):
        msg = f"size of tensor a ({n}) must match the size of tensor b ({n + 1})"
        add(f"invalid-{api}-{n}", api, n, _raised(REF, "RuntimeError", msg),
            _raised(TGT, "RuntimeError", msg))
    # invalid, another reason.
    add("invalid-other", "torch.bmm", 5, _raised(REF, "ValueError", "negative dim -5"),
        _raised(TGT, "ValueError", "negative dim -5"))
    # unsupported: a declared limit, and a mode unavailable here.
    add("declared", "torch.nonzero", 2, Observation(REF, Outcome.RETURNED, ok),
        Observation(TGT, Outcome.UNSUPPORTED, error_type="torch._dynamo.exc.Unsupported",
                    error_message="data-dependent output shape", detail="graph break"))
    add("unavailable", "torch.abs", 7, Observation(REF, Outcome.RETURNED, ok),
        Observation("torch.eager:device=cuda", Outcome.UNSUPPORTED,
                    detail="no CUDA device on this machine"), target="torch.eager:device=cuda")
    add("skipped", "torch.abs", 8, Observation(REF, Outcome.SKIPPED,
                                               detail="unresolved: args[0] is a variable"),
        Observation(TGT, Outcome.SKIPPED, detail="unresolved: args[0] is a variable"))
    add("too_large", "torch.abs", 9, Observation(REF, Outcome.SKIPPED,
                                                 detail="too_large: 123456789 elements"),
        Observation(TGT, Outcome.SKIPPED, detail="too_large: 123456789 elements"))
    for n in (10, 11):
        add(f"internal-{n}", "torch.sort", n, Observation(REF, Outcome.RETURNED, ok),
            Observation(TGT, Outcome.INTERNAL, detail=(
                "Traceback (most recent call last):\n  File \"/x/execute.py\", line "
                f"{n}, in to_node\nKeyError: 'dtype'\n")))
    return store, ids


def test_piles_group_unjudged_verdicts_by_reason(tmp_path: Path) -> None:
    store, ids = _unjudged_store(tmp_path)
    with store:
        got = {p.kind: p for p in piles_of(store)}
    assert list(got) == ["internal", "unsupported", "invalid", "skipped", "too_large"]
    invalid = got["invalid"]
    assert (invalid.count, invalid.cases) == (4, 4)
    top, other = invalid.reasons
    assert top.reason == ("both raised RuntimeError: size of tensor a <shape> must match "
                          "the size of tensor b <shape>")
    assert (top.count, top.cases, top.apis, top.api_count) == \
        (3, 3, (("torch.bmm", 2), ("torch.mm", 1)), 2)
    assert top.boundaries == ((f"{REF} -> {TGT}", 3),)
    first = min(ids[k] for k in ids if k.startswith("invalid-torch"))
    assert top.example_case == first
    assert top.example_call.startswith(("torch.bmm(Tensor[torch", "torch.mm(Tensor[torch"))
    assert other.reason == "both raised ValueError: negative dim <n>" and other.count == 1
    assert other.example_case == ids["invalid-other"]
    unsupported = {r.reason: r for r in got["unsupported"].reasons}
    assert set(unsupported) == {
        "target cannot run this: no CUDA device on this machine",
        "target does not support this (graph break): torch._dynamo.exc.Unsupported: "
        "data-dependent output shape"}
    assert got["skipped"].reasons[0].reason == \
        "reference skipped: unresolved: args[<n>] is a variable"
    assert got["too_large"].reasons[0].reason == "reference skipped: too_large: <n> elements"
    internal = got["internal"]
    assert internal.seamfuzz_failure and internal.count == 2
    (reason,) = internal.reasons
    assert reason.reason == "seamfuzz failed on the target: KeyError: 'dtype'"
    assert reason.apis == (("torch.sort", 2),)
    assert reason.example_case == min(ids["internal-10"], ids["internal-11"])
    # Round trip through JSON.
    for pile in got.values():
        assert Pile.from_json(json.loads(json.dumps(pile.to_json()))) == pile


def test_not_judged_section_in_every_report(tmp_path: Path) -> None:
    store, ids = _unjudged_store(tmp_path / "campaign")
    with store:
        data = report_data(store, title="piles")
    assert data.clusters == [] and [p.kind for p in data.piles][0] == "internal"
    paths = write_report(data, tmp_path / "out")
    listed = json.loads(paths["not_judged.json"].read_text())
    assert listed == not_judged_json(data)
    assert [p["kind"] for p in listed] == ["internal", "unsupported", "invalid", "skipped",
                                           "too_large"]
    assert listed[0]["seamfuzz_failure"] and not listed[2]["seamfuzz_failure"]
    assert listed[2]["reasons"][0]["count"] == 3
    assert json.loads(paths["clusters.json"].read_text()) == []
    md = paths["summary.md"].read_text()
    section = md.split("## Not judged")[1]
    assert "### internal: seamfuzz's own failures: 2 verdicts, 2 cases" in section
    assert "Not the library's failures." in section
    assert section.index("internal") < section.index("### unsupported")
    row = next(line for line in section.splitlines() if "size of tensor a" in line)
    assert "| 3 | 3 |" in row and "torch.bmm (2), torch.mm (1)" in row
    assert f"`{min(ids[k] for k in ids if k.startswith('invalid-torch'))}`" in row
    page = paths["report.html"].read_text()
    part = page.split('id="not-judged"')[1]
    assert 'class="pile internal" id="pile-internal"' in part
    assert "seamfuzz&#x27;s own failures" in part
    assert "both raised RuntimeError: size of tensor a &lt;shape&gt;" in part
    assert ids["invalid-other"] in part
    # The internal verdicts count in the boundary table too, never as breaking.
    assert data.boundaries[f"{REF} -> {TGT}"]["internal"] == 2


def test_sandboxed_verdicts_form_their_own_pile(tmp_path: Path) -> None:
    store = CampaignStore(tmp_path / "campaign")
    ok = arr([1.0, 2.0])
    stopped = {
        1: Observation(TGT, Outcome.SANDBOXED, error_type="OSError",
                       error_message="[Errno 30] Read-only file system: '/root/x.pt'",
                       detail="sandboxed: write outside temp"),
        2: Observation(TGT, Outcome.SANDBOXED, error_type="OSError",
                       error_message="[Errno 30] Read-only file system: '/root/x.pt'",
                       detail="sandboxed: write outside temp"),
        3: Observation(TGT, Outcome.SANDBOXED, error_type="socket.gaierror",
                       error_message="[Errno -3] Temporary failure in name resolution",
                       detail="sandboxed: network"),
        4: Observation(TGT, Outcome.INTERNAL, detail="converting the result"),
    }
    with store:
        for n, tgt in stopped.items():
            rec = CallRecord("torch.save", "torch", args=(TensorSpec("torch", (n,), "float32"),))
            cid = case_id(rec, n)
            ref = Observation(REF, Outcome.RETURNED, ok)
            store.add_cases([NewCase(cid, rec, n, "mutant", MODES)])
            store.put_result(cid, (ref, tgt), [judge(B, ref, tgt)])
        data = report_data(store, title="sandboxed")
    assert [p.kind for p in data.piles] == ["internal", "sandboxed"]
    pile = data.piles[1]
    assert (pile.count, pile.cases, pile.seamfuzz_failure) == (3, 3, False)
    assert [(r.reason.split(":")[0], r.count) for r in pile.reasons] == [
        ("target stopped by the sandbox (sandboxed", 2),
        ("target stopped by the sandbox (sandboxed", 1)]
    assert "write outside temp" in pile.reasons[0].reason
    assert "network" in pile.reasons[1].reason
    assert data.clusters == [] and data.findings == 0
    assert data.boundaries[f"{REF} -> {TGT}"] == {"sandboxed": 3, "internal": 1}
    paths = write_report(data, tmp_path / "out")
    listed = json.loads(paths["not_judged.json"].read_text())
    assert [(p["kind"], p["count"], p["seamfuzz_failure"]) for p in listed] == [
        ("internal", 1, True), ("sandboxed", 3, False)]
    md = paths["summary.md"].read_text()
    section = md.split("## Not judged")[1]
    assert "### sandboxed: stopped by the sandbox: 3 verdicts, 3 cases" in section
    assert "> **Stopped by the sandbox.** These calls tried to write outside" in section
    assert section.index("### internal") < section.index("### sandboxed")
    table = md.split("## Verdicts per boundary")[1].splitlines()
    assert table[2] == "| boundary | internal | sandboxed | total |"
    assert table[4].endswith("| 1 | 3 | 4 |")
    page = paths["report.html"].read_text()
    part = page.split('id="not-judged"')[1]
    assert "(4 verdicts)" in part[:200]
    assert 'class="pile sandboxed" id="pile-sandboxed"' in part
    assert "(3 verdicts, 3 cases)" in part
    assert "<b>Stopped by the sandbox.</b> These calls tried to write outside" in part


def test_empty_piles_say_so() -> None:
    data = sample()
    assert "Nothing: every verdict judged the boundary." in render_markdown(data)
    assert "Nothing: every verdict judged the boundary." in render_html(data)


def test_piles_escape_untrusted_text(tmp_path: Path) -> None:
    store = CampaignStore(tmp_path)
    rec = CallRecord("torch.abs", "torch", args=(TensorSpec("torch", (2,), "float32"),))
    cid = case_id(rec, 1)
    ref = _raised(REF, "RuntimeError", SCRIPT + IMG)
    tgt = _raised(TGT, "RuntimeError", SCRIPT + IMG)
    with store:
        store.add_cases([NewCase(cid, rec, 1, "mutant", MODES)])
        store.put_result(cid, (ref, tgt), [judge(B, ref, tgt)])
        data = sample(piles=piles_of(store))
    page = render_html(data)
    assert SCRIPT not in page and "<img" not in page
    md = render_markdown(data)
    outside_code = re.sub(r"(`+)(?:(?!\1).)+\1", "", md)
    assert "<img" not in outside_code and "<script" not in outside_code
