"""The layout of the doctor's rules: each check a verdict (no prose) and a wording, in one registry."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from vaekit.doctor import checks, diagnose, load_run
from vaekit.doctor.checks import (
    CHECKS,
    LINE_CHECKS,
    LOG_CHECKS,
    PHASE_CHECKS,
    RUN_CHECKS,
    VAL_CHECKS,
    Verdict,
)
from vaekit.doctor.checks.base import Context
from vaekit.doctor.rules import DEFAULT_RULES

PACKAGE = Path(checks.__file__).parent
FIX = Path(__file__).parent / "fixtures" / "doctor"


def _prose(path: Path) -> list[str]:
    """String constants with a space in them, docstrings aside: sentences, not key or case names."""
    tree = ast.parse(path.read_text())
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and " " in node.value
        and id(node) not in docs
    ]


def test_every_check_is_a_verdict_module_and_a_wording_module_of_the_same_name():
    verdicts = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "base"}
    wordings = {p.stem for p in (PACKAGE / "wording").glob("*.py")} - {"__init__", "common"}
    assert verdicts == wordings
    assert {c.name for c in CHECKS} == verdicts
    assert CHECKS == RUN_CHECKS + PHASE_CHECKS


@pytest.mark.parametrize("name", sorted(p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"))
def test_verdict_modules_write_no_prose(name):
    assert _prose(PACKAGE / f"{name}.py") == []


def test_the_registry_keeps_the_report_order():
    assert [c.name for c in RUN_CHECKS] == ["phases", "bookkeeping", "nonfinite", "validation"]
    assert RUN_CHECKS == LOG_CHECKS + LINE_CHECKS + VAL_CHECKS
    assert [c.name for c in PHASE_CHECKS] == [
        "rec_loss",
        "perception",
        "kl",
        "grad_norm",
        "d_weight",
        "disc_loss",
        "logits",
        "total_loss",
    ]


def test_a_check_is_its_verdict_in_words():
    run = load_run(FIX / "phase2_start")
    report = diagnose(run)
    ctx = Context(rules=DEFAULT_RULES, window=20)
    verdict = checks.nonfinite.judge(run.train, ctx)
    assert isinstance(verdict, Verdict)
    assert verdict.level == "ok"
    finding = checks.check_nonfinite(run.train, ctx)
    assert (finding.level, finding.evidence) == (verdict.level, verdict.evidence)
    assert finding.message == report.finding("nonfinite").message
