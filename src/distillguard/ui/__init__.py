"""Scan outputs: ``accounts.csv``, ``campaigns.json`` and ``report.html`` (docs/output.md)."""

from distillguard.ui.outputs import (
    ACCOUNT_COLUMNS,
    ScanReport,
    ScanSummary,
    load_scan_report,
    rerender_report,
    write_scan_outputs,
)
from distillguard.ui.report import render_report

__all__ = [
    "ACCOUNT_COLUMNS",
    "ScanReport",
    "ScanSummary",
    "load_scan_report",
    "render_report",
    "rerender_report",
    "write_scan_outputs",
]
