"""End to end through the CLI: simulate a tiny scenario, calibrate, scan, report, bench.

Most runs go through typer's CliRunner in this process (the corpora load once);
a few go through a real subprocess of the installed console script, where the
exact stdout/stderr split and exit code of the real program matter.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from distillguard.cli import app
from distillguard.records import Action

SCALE = "0.05"  # the small scenario at 5%: ~3k events, ~65 subjects, all 5 campaigns
ACTIONS = {a.value for a in Action}
FLAGGED = {a.value for a in Action if a.at_least(Action.REVIEW)}
ACCOUNT_HEADER = ["account_id", "enduser_id", "risk", "action", "campaign_id", "reasons"]

# A valid row, then two planted bad rows (line 2: not JSON; line 3: no account id).
GOOD_ROW = {
    "timestamp": "2026-03-02T00:00:02Z",
    "distillguard.account.id": "acct_planted_good",
    "distillguard.prompt.text": "What is the capital of France?",
}
BAD_LINES = [
    json.dumps(GOOD_ROW),
    '{"timestamp": "2026-03-02T00:00:03Z", "distillguard.account.id": ',
    json.dumps({"timestamp": "2026-03-02T00:00:04Z", "distillguard.prompt.text": "hi"}),
]


def _console_script() -> list[str]:
    script = Path(sys.executable).with_name("distillguard")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "distillguard"]


def argv(template: str, **paths: object) -> list[str]:
    """Split a command template on spaces, then fill ``{name}`` fields (paths may hold spaces)."""
    return [word.format(**paths) for word in template.split()]


def cli(template: str, **paths: object) -> subprocess.CompletedProcess[str]:
    """The installed console script in a real subprocess."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run(
        [*_console_script(), *argv(template, **paths)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def invoke(template: str, **paths: object) -> Result:
    """The CLI in this process (typer's CliRunner); unexpected exceptions propagate."""
    result = CliRunner().invoke(app, argv(template, **paths))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


@dataclass(frozen=True)
class Tiny:
    work: Path  # bench traffic cache, shared by calibrate, scan and bench
    calibration: Path
    traffic: Path  # seed 2 events (Parquet)
    bad: Path  # JSONL with one good and two bad rows
    policy: Path
    out: Path  # the scan's --out
    data_dir: Path
    scan: Result  # the CliRunner result of the scan


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Tiny:
    root = tmp_path_factory.mktemp("cli")
    work = root / "work"
    calibration = root / "calibration.json"
    res = invoke(
        "calibrate --scenario small --scale {scale} --seed 1 --work {work} --out {cal}",
        scale=SCALE,
        work=work,
        cal=calibration,
    )
    assert res.exit_code == 0, res.output
    traffic = work / f"small-seed2-x{float(SCALE):g}"
    res = invoke(
        "simulate --scenario small --scale {scale} --seed 2 --format parquet --out {out}",
        scale=SCALE,
        out=traffic,
    )
    assert res.exit_code == 0, res.output
    bad = root / "bad.jsonl"
    bad.write_text("\n".join(BAD_LINES) + "\n")
    policy = root / "policy.yaml"
    policy.write_text(
        "version: test-7\n"
        "overrides:\n"
        "  - account_id: acct_planted_good\n"
        "    action: review\n"
        "    reason: planted by the CLI test\n"
        "    analyst: tests\n"
        "min_events: 2\n"
    )
    out, data_dir = root / "out", root / "data"
    scan = invoke(
        "scan {events} {bad} --out {out} --data-dir {data} --calibration {cal} --policy {policy}",
        events=traffic / "events.parquet",
        bad=bad,
        out=out,
        data=data_dir,
        cal=calibration,
        policy=policy,
    )
    return Tiny(work, calibration, traffic, bad, policy, out, data_dir, scan)


def test_scan_writes_the_output_contract(tiny: Tiny) -> None:
    assert tiny.scan.exit_code == 0, tiny.scan.output
    assert tiny.scan.stdout.strip() == str(tiny.out / "report.html")
    with (tiny.out / "accounts.csv").open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == ACCOUNT_HEADER
        rows = list(reader)
    assert len(rows) > 20
    risks = [float(r["risk"]) for r in rows]
    assert all(0.0 <= r <= 1.0 for r in risks)
    assert risks == sorted(risks, reverse=True)
    assert {r["action"] for r in rows} <= ACTIONS
    assert any(r["action"] in FLAGGED for r in rows)
    assert all("\n" not in r["reasons"] and len(r["reasons"]) <= 300 for r in rows)

    campaigns = json.loads((tiny.out / "campaigns.json").read_text())
    assert isinstance(campaigns, list)
    in_csv = {r["campaign_id"] for r in rows if r["campaign_id"]}
    assert {c["campaign_id"] for c in campaigns} >= in_csv
    for c in campaigns:
        assert {"campaign_id", "members", "score", "evidence", "features"} <= set(c)
        assert c["members"] and all(isinstance(m, str) for m in c["members"])
        for e in c["evidence"]:
            assert {"kind", "text", "value", "weight"} <= set(e)

    html = (tiny.out / "report.html").read_text(encoding="utf-8")
    assert "<html" in html.lower()
    assert "campaign" in html.lower()
    for c in campaigns[:3]:
        assert c["campaign_id"] in html


def test_scan_quarantines_the_planted_rows(tiny: Tiny) -> None:
    lines = (tiny.out / "quarantine.jsonl").read_text().splitlines()
    bad = [json.loads(line) for line in lines]
    assert {(Path(b["source"]).name, b["line"]) for b in bad} == {
        ("bad.jsonl", 2),
        ("bad.jsonl", 3),
    }
    reasons = {b["line"]: b["reason"] for b in bad}
    assert reasons == {2: "malformed_json", 3: "missing_required"}
    assert all(b["detail"] for b in bad)


def test_scan_applies_policy_and_logs_decisions(tiny: Tiny) -> None:
    with (tiny.out / "accounts.csv").open(newline="", encoding="utf-8") as fh:
        rows = {(r["account_id"], r["enduser_id"]): r for r in csv.DictReader(fh)}
    assert rows[("acct_planted_good", "")]["action"] == "review"

    log = tiny.data_dir / "decisions.jsonl"
    decisions = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(decisions) == len(rows)
    assert {d["policy_version"] for d in decisions} == {"test-7"}
    # event time of the data's end (the simulated day), never the wall clock
    assert {d["decided_at"][:7] for d in decisions} == {"2026-03"}
    planted = [d for d in decisions if d["subject"]["account_id"] == "acct_planted_good"]
    assert planted[0]["action"] == "review" and planted[0]["rule"] == "override"


def test_report_rerenders_from_outputs(tiny: Tiny) -> None:
    page = tiny.out / "report.html"
    page.unlink()
    res = invoke("report {out}", out=tiny.out)
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(page)
    assert "campaign" in page.read_text(encoding="utf-8").lower()
    assert invoke("report --out {out}", out=tiny.out).exit_code == 0
    assert invoke("report").exit_code == 2
    assert invoke("report {out}", out=tiny.out / "nope").exit_code == 3


def test_quiet_scan_prints_only_the_path_and_fail_on_exits_10(tiny: Tiny, tmp_path: Path) -> None:
    # a second scan of what the store already holds (no sources)
    out = tmp_path / "again"
    res = invoke(
        "--quiet scan --out {out} --data-dir {data} --calibration {cal} --policy {policy} "
        "--fail-on review",
        out=out,
        data=tiny.data_dir,
        cal=tiny.calibration,
        policy=tiny.policy,
    )
    assert res.exit_code == 10, res.output
    assert res.stdout == f"{out / 'report.html'}\n"
    assert res.stderr == ""
    # the log is appended to, never rewritten
    log = (tiny.data_dir / "decisions.jsonl").read_text().splitlines()
    assert len(log) == 2 * (len((out / "accounts.csv").read_text().splitlines()) - 1)


def test_strict_scan_fails_on_the_first_bad_row(tiny: Tiny, tmp_path: Path) -> None:
    res = cli("scan {bad} --strict --out {tmp}/o --data-dir {tmp}/d", bad=tiny.bad, tmp=tmp_path)
    assert res.returncode == 3
    err = res.stderr.strip().splitlines()  # INFO log lines, then one error line
    errors = [line for line in err if line.startswith("error: ")]
    assert errors == [err[-1]] and "bad.jsonl:2" in err[-1]
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "o" / "report.html").exists()


def test_missing_input_file_exits_3(tmp_path: Path) -> None:
    res = cli("scan {tmp}/nope.jsonl --out {tmp}/o --data-dir {tmp}/d", tmp=tmp_path)
    assert res.returncode == 3
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1
    assert res.stdout == ""


def test_log_json_emits_json_lines(tiny: Tiny, tmp_path: Path) -> None:
    res = cli(
        "--log-json ingest {bad} --data-dir {tmp}/d --quarantine {tmp}/q.jsonl",
        bad=tiny.bad,
        tmp=tmp_path,
    )
    assert res.returncode == 0, res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert lines
    for line in lines:
        record = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(record)
    assert json.loads(res.stdout)["rows_quarantined"] == 2


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ("--scale 0", "--scale"),
        ("--target-fpr 1.5", "--target-fpr"),
        ("--replay-step-hours -1", "--replay-step-hours"),
        ("--bootstrap-reps 0", "--bootstrap-reps"),
        ("--detector nope", "unknown --detector"),
        ("--calibration-seed 2 --seed 2", "calibration seed"),
    ],
)
def test_bench_rejects_bad_options(args: str, needle: str, tmp_path: Path) -> None:
    res = invoke("bench --out {tmp} " + args, tmp=tmp_path)
    assert res.exit_code == 2
    assert needle in res.stderr
    assert not (tmp_path / "results.json").exists()


def test_scan_rejects_bad_options(tmp_path: Path) -> None:
    res = invoke("scan --out {tmp}/o --fail-on panic", tmp=tmp_path)
    assert res.exit_code == 2 and "--fail-on" in res.stderr
    bad = tmp_path / "config.yaml"
    bad.write_text("resolution: -1\n")
    res = invoke("scan --out {tmp}/o --config {bad}", tmp=tmp_path, bad=bad)
    assert res.exit_code == 3 and "resolution" in res.stderr
    res = invoke("scan --out {tmp}/o --policy {tmp}/nope.yaml", tmp=tmp_path)
    assert res.exit_code == 3 and "--policy" in res.stderr


def test_scan_with_a_detection_config(tiny: Tiny, tmp_path: Path) -> None:
    config = tmp_path / "detection.yaml"
    config.write_text("resolution: 0.08\nseed: 3\n")
    res = invoke(
        "--quiet scan --out {tmp}/o --data-dir {data} --config {config} "
        "--decision-log {tmp}/log.jsonl",
        tmp=tmp_path,
        data=tiny.data_dir,
        config=config,
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "log.jsonl").is_file() and (tmp_path / "o" / "accounts.csv").is_file()


def test_bench_with_tiny_settings_reports_the_baselines(tiny: Tiny, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    res = invoke(
        "bench --scenario small --scale {scale} --calibration-seed 1 --seed 2 --out {out} "
        "--work {work} --bootstrap-reps 20 --replay-step-hours 6 --no-trace-memory",
        scale=SCALE,
        out=out,
        work=tiny.work,
    )
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == str(out / "report.html")
    for name in ("report.md", "report.html", "results.json"):
        assert (out / name).stat().st_size > 0
    data = json.loads((out / "results.json").read_text())
    ran = {d["name"] for d in data["detectors"]} | set(data["skipped"])
    assert ran == {"distillguard", "rate", "iforest", "prada", "seat"}
    assert {"rate", "iforest", "prada", "seat"} <= {d["name"] for d in data["detectors"]}
    md = (out / "report.md").read_text()
    for name in ("rate", "iforest", "prada", "seat"):
        assert f"| {name} |" in md
    assert data["calibration_seed"] == 1 and data["eval_seeds"] == [2]
    # the cached traffic was reused, not simulated again
    assert not (out / "traffic").exists()
