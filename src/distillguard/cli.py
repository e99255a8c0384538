"""The command line: the only place that talks to people.

Exit codes: 0 done; 1 unexpected failure; 2 usage error; 3 bad input (a strict
ingest hit a bad row, a file is missing, a config is invalid); 4 a data package is
missing; 10 ``scan --fail-on`` found a subject at or above that action.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from distillguard import __version__

if TYPE_CHECKING:
    from distillguard.records import Action

__all__ = ["app", "main"]

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_BAD_INPUT = 3
EXIT_MISSING_DATA = 4
EXIT_FINDINGS = 10

app = typer.Typer(
    name="distillguard",
    help="Detect, stop and prove industrial-scale distillation of AI models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_state: dict[str, bool] = {"quiet": False}


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(
            {
                "time": self.formatTime(record),
                "level": record.levelname.lower(),
                "logger": record.name,
                "message": record.getMessage(),
            }
        )


@app.callback()
def _setup(
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only results.")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
    log_json: Annotated[bool, typer.Option("--log-json", help="Logs as JSON lines.")] = False,
) -> None:
    _state["quiet"] = quiet
    handler = logging.StreamHandler(sys.stderr)
    if log_json:
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, handlers=[handler], force=True)


def _say(message: str) -> None:
    if not _state["quiet"]:
        typer.echo(message, err=True)


def _fail(message: str, code: int) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def _progress(label: str) -> Iterator[Callable[[str, int], None]]:
    """A rich progress display fed by (stage, rows) callbacks; silent with --quiet."""
    if _state["quiet"] or not sys.stderr.isatty():
        yield lambda stage, n: None
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True
    ) as bar:
        tasks: dict[str, Any] = {}

        def update(stage: str, n: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(f"{label}: {stage}", total=None)
            bar.advance(tasks[stage], n)
            done = bar.tasks[tasks[stage]].completed
            bar.update(tasks[stage], description=f"{label}: {stage} {int(done):,} rows")

        yield update


@contextmanager
def _errors() -> Iterator[None]:
    """Map the library's errors to exit codes with a one-line message."""
    import yaml

    from distillguard.corpora import MissingDataPackage
    from distillguard.ingest import IngestError

    try:
        yield
    except IngestError as exc:
        raise _fail(str(exc), EXIT_BAD_INPUT) from None
    except MissingDataPackage as exc:
        raise _fail(str(exc), EXIT_MISSING_DATA) from None
    except (FileNotFoundError, ValueError) as exc:
        raise _fail(str(exc), EXIT_BAD_INPUT) from None
    except yaml.YAMLError as exc:
        raise _fail(" ".join(f"not valid YAML: {exc}".split()), EXIT_BAD_INPUT) from None


def _store(data_dir: Path) -> Any:
    from distillguard.engines.duckdb_store import DuckDBStore

    data_dir.mkdir(parents=True, exist_ok=True)
    return DuckDBStore(data_dir / "distillguard.duckdb")


DataDir = Annotated[Path, typer.Option("--data-dir", help="Where the embedded DuckDB store lives.")]
MappingOpt = Annotated[
    Path | None, typer.Option("--mapping", "-m", help="Field mapping file (TOML or YAML).")
]
StrictOpt = Annotated[bool, typer.Option("--strict", help="Fail on the first bad row.")]


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@app.command()
def ingest(
    sources: Annotated[list[str], typer.Argument(help="Files, globs, directories or '-'.")],
    data_dir: DataDir = Path(".dg-data"),
    mapping: MappingOpt = None,
    strict: StrictOpt = False,
    quarantine: Annotated[Path, typer.Option(help="Where bad rows go, with their reason.")] = Path(
        "quarantine.jsonl"
    ),
) -> None:
    """Read logs into the embedded store; bad rows go to the quarantine file."""
    from distillguard.ingest import ingest as run_ingest
    from distillguard.ingest import load_mapping

    with _errors(), _progress("ingest") as progress:
        store = _store(data_dir)
        summary = run_ingest(
            sources,
            store=store,
            mapping=load_mapping(mapping) if mapping else None,
            strict=strict,
            quarantine_path=quarantine,
            on_progress=lambda n: progress("rows", n),
        )
        store.close()
    typer.echo(json.dumps(summary.as_dict(), indent=2))


@app.command()
def scan(
    sources: Annotated[
        list[str] | None, typer.Argument(help="Inputs to ingest first; none: scan the store.")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output directory.")] = Path("out"),
    data_dir: DataDir = Path(".dg-data"),
    mapping: MappingOpt = None,
    strict: StrictOpt = False,
    calibration: Annotated[
        Path | None, typer.Option(help="Calibration JSON from `distillguard calibrate`.")
    ] = None,
    policy: Annotated[Path | None, typer.Option(help="Policy YAML (allowlists etc.).")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="Detection config YAML (DetectionConfig).")
    ] = None,
    decision_log: Annotated[
        Path | None,
        typer.Option(help="Append-only decision log (default: DATA_DIR/decisions.jsonl)."),
    ] = None,
    fail_on: Annotated[
        str | None, typer.Option(help="Exit 10 if any subject reaches this action.")
    ] = None,
) -> None:
    """Ingest, run every detector, and write accounts.csv, campaigns.json, report.html."""
    from distillguard.decisions import Calibration, DetectionConfig, Policy
    from distillguard.ingest import load_mapping
    from distillguard.pipeline import scan as run_scan
    from distillguard.records import Action

    threshold = _action_option(fail_on, "--fail-on") if fail_on else None
    for flag, path in (
        ("--mapping", mapping),
        ("--calibration", calibration),
        ("--policy", policy),
        ("--config", config),
    ):
        if path is not None and not path.is_file():
            raise _fail(f"{flag}: no such file: {path}", EXIT_BAD_INPUT)
    with _errors(), _progress("scan") as progress:
        loaded_mapping = load_mapping(mapping) if mapping else None
        loaded_calibration = Calibration.load(calibration) if calibration else None
        loaded_policy = Policy.load(policy) if policy else None
        loaded_config = DetectionConfig.load(config) if config else None
        store = _store(data_dir)
        try:
            result = run_scan(
                sources or [],
                store=store,
                out_dir=out,
                mapping=loaded_mapping,
                strict=strict,
                calibration=loaded_calibration,
                policy=loaded_policy,
                config=loaded_config,
                decision_log=decision_log or data_dir / "decisions.jsonl",
                on_progress=progress,
            )
        finally:
            store.close()
    _say(
        f"{result.events:,} events, {result.subjects:,} subjects, {result.flagged:,} flagged, "
        f"{result.campaigns} campaigns"
    )
    typer.echo(str(out / "report.html"))
    if threshold is not None:
        import polars as pl

        actions = pl.read_csv(out / "accounts.csv", schema_overrides={"action": pl.Utf8})["action"]
        if any(Action(a).at_least(threshold) for a in actions.to_list()):
            raise typer.Exit(EXIT_FINDINGS)


def _action_option(value: str, flag: str) -> Action:
    from distillguard.records import Action

    try:
        return Action(value.strip().lower())
    except ValueError:
        allowed = ", ".join(a.value for a in Action)
        raise _fail(f"{flag} must be one of {allowed}, not {value!r}", EXIT_USAGE) from None


@app.command()
def report(
    out_dir: Annotated[
        Path | None, typer.Argument(help="A previous scan's output dir.", show_default=False)
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="The same, as an option.")] = None,
) -> None:
    """Re-render report.html from a previous scan's outputs (accounts.csv, campaigns.json)."""
    from distillguard.ui import rerender_report

    if out_dir is not None and out is not None and out_dir != out:
        raise _fail("give the output directory once (OUT_DIR or --out)", EXIT_USAGE)
    target = out_dir or out
    if target is None:
        raise _fail(
            "give a previous scan's output directory: distillguard report OUT_DIR", EXIT_USAGE
        )
    if not target.is_dir():
        raise _fail(f"no such directory: {target}", EXIT_BAD_INPUT)
    with _errors():
        path = rerender_report(target)
    typer.echo(str(path))


@app.command()
def simulate(
    scenario: Annotated[str, typer.Option(help="small, default, large, or a TOML path.")] = "small",
    seed: Annotated[int, typer.Option(help="Same seed, same bytes.")] = 0,
    out: Annotated[Path, typer.Option("--out", "-o")] = Path("bench-data"),
    fmt: Annotated[str, typer.Option("--format", help="jsonl or parquet.")] = "jsonl",
    scale: Annotated[float, typer.Option(help="Multiply the scenario's size.")] = 1.0,
) -> None:
    """Write labelled DistillBench traffic built from real prompts."""
    from distillguard.bench.simulate import simulate as run_simulate

    if fmt not in ("jsonl", "parquet"):
        raise _fail(f"--format must be jsonl or parquet, not {fmt!r}", EXIT_USAGE)
    _check_scale(scale)
    with _errors():
        started = time.perf_counter()
        summary = run_simulate(scenario, seed=seed, out=out, fmt=fmt, scale=scale)  # type: ignore[arg-type]
    _say(
        f"{summary.events:,} events, {summary.subjects:,} subjects, {summary.campaigns} campaigns "
        f"in {time.perf_counter() - started:.1f}s"
    )
    typer.echo(str(out))


def _check_scale(scale: float) -> None:
    if not 0.0 < scale < float("inf"):
        raise _fail(f"--scale must be a positive number, not {scale:g}", EXIT_USAGE)


def _check_target_fpr(target_fpr: float | None) -> None:
    if target_fpr is not None and not 0.0 < target_fpr < 1.0:
        raise _fail(f"--target-fpr must be in (0, 1), not {target_fpr:g}", EXIT_USAGE)


@app.command()
def calibrate(
    scenario: Annotated[str, typer.Option(help="Scenario to calibrate on.")] = "small",
    seed: Annotated[int, typer.Option(help="Calibration seed; never the one you report on.")] = 1,
    out: Annotated[Path, typer.Option("--out", "-o")] = Path("calibration.json"),
    work: Annotated[Path, typer.Option(help="Where simulated traffic is cached.")] = Path(
        ".dg-data/bench"
    ),
    scale: Annotated[float, typer.Option(help="Multiply the scenario's size.")] = 1.0,
    target_fpr: Annotated[
        float | None, typer.Option(help="Review target FPR in (0, 1); default: built-in targets.")
    ] = None,
) -> None:
    """Fit risk thresholds on a calibration seed's benign traffic."""
    from distillguard.bench.harness import calibrate_on_scenario

    _check_scale(scale)
    _check_target_fpr(target_fpr)
    with _errors():
        calibration = calibrate_on_scenario(
            scenario, seed=seed, work_dir=work, scale=scale, target_fpr=target_fpr
        )
        calibration.save(out)
    typer.echo(str(out))


@app.command()
def bench(
    scenario: Annotated[str, typer.Option(help="small, default, large, or a TOML path.")] = "small",
    calibration_seed: Annotated[int, typer.Option(help="Seed used only to calibrate.")] = 1,
    seeds: Annotated[
        list[int] | None, typer.Option("--seed", help="Seeds reported on (repeat; default 2).")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o")] = Path("bench-out"),
    detectors: Annotated[
        list[str] | None, typer.Option("--detector", help="Limit to these detectors (repeat).")
    ] = None,
    scale: Annotated[float, typer.Option(help="Multiply the scenario's size.")] = 1.0,
    target_fpr: Annotated[
        float | None,
        typer.Option(help="Shared target FPR in (0, 1); default: distillguard's review target."),
    ] = None,
    replay_step_hours: Annotated[
        float, typer.Option(help="Event-time replay step in hours; 0: no replay (no harvest).")
    ] = 1.0,
    bootstrap_reps: Annotated[int, typer.Option(help="Bootstrap replicates (>= 1).")] = 1000,
    trace_memory: Annotated[
        bool,
        typer.Option(
            "--trace-memory/--no-trace-memory",
            help="tracemalloc during fit (slower fits); peak RSS is measured either way.",
        ),
    ] = True,
    work: Annotated[
        Path | None, typer.Option(help="Where simulated traffic is cached (default OUT/traffic).")
    ] = None,
) -> None:
    """Run distillguard and the baselines on DistillBench; write report.md and report.html."""
    from datetime import timedelta

    from distillguard.bench.detector import DETECTORS
    from distillguard.bench.harness import run_bench

    eval_seeds = list(dict.fromkeys(seeds or [2]))
    if calibration_seed in eval_seeds:
        raise _fail("the calibration seed must not be one of the reported seeds", EXIT_USAGE)
    unknown = [d for d in detectors or [] if d not in DETECTORS]
    if unknown:
        raise _fail(
            f"unknown --detector {', '.join(unknown)}; known: {', '.join(DETECTORS)}", EXIT_USAGE
        )
    _check_scale(scale)
    _check_target_fpr(target_fpr)
    if not 0.0 <= replay_step_hours < float("inf"):
        raise _fail(
            f"--replay-step-hours must be >= 0 (0: no replay), not {replay_step_hours:g}",
            EXIT_USAGE,
        )
    if bootstrap_reps < 1:
        raise _fail(f"--bootstrap-reps must be >= 1, not {bootstrap_reps}", EXIT_USAGE)
    replay_step = timedelta(hours=replay_step_hours) if replay_step_hours > 0 else None
    with _errors():
        started = time.perf_counter()
        result = run_bench(
            scenario,
            calibration_seed=calibration_seed,
            eval_seeds=eval_seeds,
            out=out,
            detectors=list(dict.fromkeys(detectors)) if detectors else None,
            target_fpr=target_fpr,
            scale=scale,
            replay_step=replay_step,
            bootstrap_reps=bootstrap_reps,
            work_dir=work,
            trace_memory=trace_memory,
        )
    _say(result.summary_text())
    _say(f"bench done in {time.perf_counter() - started:.0f}s; report in {out}")
    typer.echo(str(out / "report.html"))


@app.command()
def demo(
    out: Annotated[Path, typer.Option("--out", "-o")] = Path("out/demo"),
    scenario: Annotated[str, typer.Option()] = "small",
) -> None:
    """The main job on the embedded default: simulate, calibrate, scan, report."""
    from distillguard.bench.harness import calibrate_on_scenario
    from distillguard.bench.simulate import simulate as run_simulate
    from distillguard.pipeline import scan as run_scan

    with _errors(), _progress("demo") as progress:
        work = out / "work"
        _say(f"calibrating on scenario {scenario!r}, seed 1 ...")
        calibration = calibrate_on_scenario(scenario, seed=1, work_dir=work)
        calibration.save(out / "calibration.json")
        _say(f"simulating scenario {scenario!r}, seed 2 (the traffic we report on) ...")
        traffic = work / f"{scenario}-seed2-scan"
        run_simulate(scenario, seed=2, out=traffic, fmt="jsonl")
        store_dir = out / "store"
        if store_dir.exists():
            import shutil

            shutil.rmtree(store_dir)
        store = _store(store_dir)
        result = run_scan(
            [str(traffic / "events.jsonl")],
            store=store,
            out_dir=out,
            calibration=calibration,
            decision_log=store_dir / "decisions.jsonl",
            on_progress=progress,
        )
        store.close()
    _say(
        f"{result.events:,} events, {result.subjects:,} subjects, {result.flagged:,} flagged, "
        f"{result.campaigns} campaigns; ground truth in {traffic / 'labels'}"
    )
    typer.echo(f"report: {out / 'report.html'}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
