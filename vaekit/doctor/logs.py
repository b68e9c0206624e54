"""Read a training run's metrics into one uniform shape.

Accepted inputs:

* a vaekit run folder (``metrics.jsonl`` + ``config.toml``, the resolved recipe);
* any JSON-lines file with one object per log step (nested objects are flattened);
* a CSV log: PyTorch Lightning's ``metrics.csv``, a wandb export (:mod:`.formats.tables`);
* TensorBoard event files, or a folder holding them (:mod:`.formats.tensorboard_events`);
* a plain-text log from another trainer: ``key: value`` / ``key=value`` pairs, dict reprs, tqdm and
  Lightning progress bars, MetricLogger lines, split ``(Generator)`` / ``(Discriminator)`` lines
  (:mod:`.formats.text`).

Keys are mapped to vaekit's names through the one alias table (:mod:`.aliases`); keys it does not
recognise are kept, ignored by the rules, and listed in the report. Steps and epochs come from
the log's own counters (:mod:`.positions`). Every number remembers how many digits it was printed
with, so the bookkeeping checks can tell rounding from a real mismatch.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..logschema import LOSS_KEYS, METRICS_NAME
from .aliases import DEFAULT_TABLE, AliasTable, KeyName
from .errors import DoctorError
from .formats import PrintedFloat
from .formats.tables import read_csv_rows
from .formats.tensorboard_events import event_files, is_event_file, read_event_rows
from .formats.text import parse_text_line, read_text_lines
from .positions import assign_positions, dedupe

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = [
    "DoctorError",
    "KeyLedger",
    "LOSS_KEYS",
    "Record",
    "Run",
    "find_key",
    "load_run",
    "make_record",
    "normalize_key",
    "parse_text_line",
    "quantum_of",
    "recipe_from_config",
    "run_from_records",
]


#: Keys that make a line a training log line (``lr`` alone does not; nor does a bare counter).
TRAIN_KEYS = frozenset(LOSS_KEYS) | {
    "loss", "vq_loss", "commit_loss", "codebook_loss", "quant_loss", "entropy_loss", "wavelet_loss",
}
#: Keys of a validation line (always stored with a ``val/`` prefix).
VAL_BARE_KEYS = frozenset({"psnr", "ssim", "lpips", "psnr_ema", "ssim_ema", "lpips_ema"})
#: Recipe keys the rules use; looked up at any depth of ``config.toml``.
RECIPE_KEYS = (
    "kl_weight",
    "pixelloss_weight",
    "perceptual_weight",
    "disc_weight",
    "disc_start",
    "batch_size",
    "clip_grad",
)
_COUNTERS = ("step", "global_step", "epoch")


@dataclass
class Record:
    """One log line: its step, epoch, kind (``train`` or ``val``) and numeric values.

    ``quantum`` holds, per key, half a unit of the last printed digit (0 for full-precision
    numbers), i.e. how far the printed value may be from the value the trainer computed.
    ``batch`` / ``batches`` are a progress counter's ``n/total`` where the line had one.
    """

    step: int | None
    values: dict[str, float]
    kind: str = "train"
    epoch: int | None = None
    phase: str | None = None
    quantum: dict[str, float] = field(default_factory=dict)
    line: int = 0
    batch: int | None = None
    batches: int | None = None
    aggregate: bool = False  # every loss value of it is an epoch mean (Lightning ``*_epoch``)

    def get(self, key: str) -> float | None:
        return self.values.get(key)

    def q(self, key: str) -> float:
        return self.quantum.get(key, 0.0)


@dataclass
class KeyLedger:
    """What became of every logged key: mapped (raw -> vaekit name), unrecognised, set aside."""

    mapped: dict[str, str] = field(default_factory=dict)
    unrecognised: Counter = field(default_factory=Counter)
    set_aside: Counter = field(default_factory=Counter)

    def raw_names(self) -> set[str]:
        """The logged names without prefixes/suffixes, lower case (for telling the trainer)."""
        out = set()
        for raw in self.mapped:
            k = raw.lower().rsplit(" - ", 1)[-1]
            k = k.split("/")[-1].split(".")[-1]
            for suf in ("_step", "_epoch"):
                if k.endswith(suf):
                    k = k[: -len(suf)]
            for pre in ("train_", "val_"):
                if k.startswith(pre):
                    k = k[len(pre) :]
            out.add(k)
        return out


@dataclass
class Run:
    """A parsed run: training lines sorted by position, validation lines, the recipe."""

    source: str
    fmt: str
    train: list[Record]
    val: list[Record] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    config_source: str | None = None
    notes: list[str] = field(default_factory=list)
    unit: str = "step"  # "step" | "epoch" | "line": what Record.step counts
    steps_per_epoch: int | None = None
    keys: KeyLedger = field(default_factory=KeyLedger)
    vaekit_run: bool = False

    def recipe(self) -> dict[str, Any]:
        """The recipe values the rules use, found at any depth of the config."""
        return recipe_from_config(self.config)


# ----------------------------------------------------------------------------------------------
# numbers and keys


def quantum_of(token: str) -> float:
    """Half a unit of the last digit of a printed number: '0.0434' -> 5e-05, '1e-12' -> 5e-13."""
    t = token.strip().lower().lstrip("+-")
    if not t or t[0].isalpha():  # nan, inf
        return 0.0
    mant, _, exp = t.partition("e")
    decimals = len(mant.split(".", 1)[1]) if "." in mant else 0
    e = int(exp) if exp else 0
    return 0.5 * 10.0 ** (e - decimals)




def normalize_key(key: str, table: AliasTable = DEFAULT_TABLE) -> tuple[str, bool]:
    """Map a logged key to the vaekit name; returns ``(name, is_validation)`` (``val/`` prefixed)."""
    kn = table.normalize(key)
    return kn.full, kn.val


def _flatten(obj: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in obj.items():
        key = f"{prefix}/{k}" if prefix else str(k)
        if isinstance(v, dict):
            out.update(_flatten(v, key))
        else:
            out[key] = v
    return out


def find_key(config: Any, key: str) -> Any:
    """The value of ``key`` anywhere in a nested config (breadth first: shallow tables win)."""
    level = [config]
    while level:
        nxt = []
        for node in level:
            if isinstance(node, dict):
                if key in node and not isinstance(node[key], dict):
                    return node[key]
                nxt.extend(v for v in node.values() if isinstance(v, dict))
        level = nxt
    return None


def recipe_from_config(config: dict[str, Any]) -> dict[str, Any]:
    from .conventions import gan_name

    out: dict[str, Any] = {}
    for key in RECIPE_KEYS:
        v = find_key(config, key)
        if isinstance(v, bool) or v is None:
            continue
        if isinstance(v, (int, float)):
            out[key] = v
        elif isinstance(v, str):
            try:
                out[key] = float(v)
            except ValueError:
                pass
    random_backbone = find_key(config, "lpips_random_backbone")
    if isinstance(random_backbone, bool) and random_backbone:
        out["lpips_random_backbone"] = True
    for key in ("disc_loss", "disc_loss_type", "gan_loss", "adversarial_loss", "criterion"):
        name = gan_name(find_key(config, key))
        if name is not None:
            out["gan_loss"] = name
            break
    return out


# ----------------------------------------------------------------------------------------------
# building records


def _is_trainish(name: str, kn: KeyName) -> bool:
    return name in TRAIN_KEYS or (not kn.known and "loss" in name)


def make_record(
    raw: dict[str, Any],
    line: int = 0,
    tokens: dict[str, str] | None = None,
    table: AliasTable = DEFAULT_TABLE,
    ledger: KeyLedger | None = None,
    force_val: bool = False,
    train_context: bool = False,
) -> list[Record]:
    """Turn one flat ``{key: value}`` mapping into one train record and/or one val record.

    ``force_val``: the whole line is validation (``Valid: ...``, ``epoch 10 val loss: ...``);
    ``train_context``: the line is a training line (a progress bar), so a bare ``psnr`` in it
    is a training batch's PSNR, not a validation result."""
    tokens = tokens or {}
    train: dict[str, float] = {}
    val: dict[str, float] = {}
    means: dict[str, float] = {}
    qtrain: dict[str, float] = {}
    qval: dict[str, float] = {}
    strings: dict[str, str] = {}
    trainish = False
    unknown: list[str] = []
    for key, v in raw.items():
        kn = table.normalize(key)
        if isinstance(v, str):
            strings[kn.name] = v
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or kn.ignored:
            continue
        is_val = (kn.val and not (train_context and kn.val_by_name)) or force_val
        name = "val/" + kn.name if is_val and kn.name not in _COUNTERS else kn.name
        if not kn.known:
            unknown.append(kn.raw)
        elif ledger is not None and kn.raw not in ledger.mapped:
            ledger.mapped[kn.raw] = name
        if kn.epoch_mean and not is_val:
            means[name] = float(v)
            continue
        token = tokens.get(key) or getattr(v, "token", None)
        target, qt = (val, qval) if is_val and kn.name not in _COUNTERS else (train, qtrain)
        target[name] = float(v)
        trainish = trainish or (not is_val and _is_trainish(kn.name, kn))
        if token is not None:
            qt[name] = quantum_of(token)
    aggregate = False
    if means:
        if trainish:
            if ledger is not None:
                ledger.set_aside["epoch means (*_epoch keys) beside per-step values"] += len(means)
        else:
            train.update(means)
            trainish = any(_is_trainish(k, table.normalize(k)) for k in means)
            aggregate = True
    kind = strings.get("kind", "").lower()
    step_v = train.pop("global_step", None)
    local_step = train.pop("step", None)
    if step_v is None:
        step_v = local_step
    epoch_v = train.pop("epoch", None)
    step = int(step_v) if step_v is not None and math.isfinite(step_v) else None
    epoch = int(epoch_v) if epoch_v is not None and math.isfinite(epoch_v) else None
    phase = strings.get("phase")
    for k in _COUNTERS:
        qtrain.pop(k, None)
    out: list[Record] = []
    if kind == "val":
        val.update({("val/" + k if not k.startswith("val/") else k): x for k, x in train.items()})
        qval.update({("val/" + k if not k.startswith("val/") else k): x for k, x in qtrain.items()})
        train = {}
    if train and (kind == "train" or trainish):
        out.append(Record(step, train, "train", epoch, phase, qtrain, line, aggregate=aggregate))
    elif train and not val:
        return []
    if val:
        out.append(Record(step, val, "val", epoch, phase, qval, line))
    if ledger is not None and out:
        ledger.unrecognised.update(unknown)
    return out


# ----------------------------------------------------------------------------------------------
# files


def _read_jsonl(path: Path, table: AliasTable, ledger: KeyLedger) -> tuple[list[Record], int]:
    """Parse a JSON-lines file. The first lines are parsed keeping each number's printed digits;
    when they show full-precision numbers (as ``json.dumps`` writes floats), the rest is parsed
    without that bookkeeping, which is several times faster on long runs."""
    records: list[Record] = []
    bad = 0
    probe = 200
    parse_float: Any = PrintedFloat
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for i, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            if i == probe + 1 and parse_float is PrintedFloat and _full_precision(records):
                parse_float = float
            try:
                obj = json.loads(line, parse_float=parse_float)
            except json.JSONDecodeError:
                bad += 1
                continue
            if not isinstance(obj, dict):
                bad += 1
                continue
            records.extend(make_record(_flatten(obj), line=i, table=table, ledger=ledger))
    return records, bad


def _looks_like_jsonl(path: Path) -> bool:
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            s = line.strip()
            if s:
                return s.startswith("{") and s.endswith("}") and '"' in s
    return False


def _full_precision(records: list[Record]) -> bool:
    """Whether any loss value was printed with 12 or more significant digits.

    json.dumps writes the shortest repr of a float, so a float32 loss prints with ~16-17 digits
    while an exact-looking ``1.0`` prints as is: one long number shows that the file was written
    at full precision, and then no value of it is treated as rounded.
    """
    for r in records:
        for k, v in r.values.items():
            q = r.quantum.get(k)
            if q and k in LOSS_KEYS and v != 0 and math.isfinite(v) and q / abs(v) < 5e-12:
                return True
    return False


def _drop_quanta_if_exact(records: list[Record]) -> None:
    """Numbers written at full precision carry no rounding (see :func:`_full_precision`)."""
    if _full_precision(records):
        for r in records:
            r.quantum = {}


def read_config(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DoctorError(f"cannot read the recipe {path}: {exc}") from exc


def _read_text(path: Path, table: AliasTable, ledger: KeyLedger, notes: list[str]) -> tuple[list[Record], dict[str, Any]]:
    records: list[Record] = []
    log_config: dict[str, Any] = {}
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        scan = read_text_lines(fh, table)
    for tl in scan.lines:
        recs = make_record(
            tl.values, line=tl.line, tokens=tl.tokens, table=table, ledger=ledger, force_val=tl.val, train_context=tl.bar
        )
        if recs:
            for r in recs:
                r.epoch = r.epoch if r.epoch is not None else tl.epoch
                if r.kind == "train":
                    r.batch, r.batches = tl.batch, tl.batches
            records.extend(recs)
            continue
        # An argument dump (``Namespace(kl_weight=1e-12, ...)``): keep the recipe keys.
        for key, v in tl.values.items():
            kn = table.normalize(key)
            if kn.name in RECIPE_KEYS and kn.name not in log_config:
                log_config[kn.name] = v
            elif not kn.known and "loss" in kn.name:
                ledger.unrecognised[kn.raw] += 1
    if scan.summaries:
        ledger.set_aside["per-epoch summary lines (Averaged stats / totals) that repeat the step lines"] += scan.summaries
    if scan.val_bars:
        ledger.set_aside["validation / sanity-check progress bars"] += scan.val_bars
    if scan.cut_bars:
        notes.append(
            f"{scan.cut_bars} progress-bar lines are cut off at the terminal width: the values after the cut "
            "are lost (only the keys before it were read)"
        )
    return records, log_config


def _pick_metrics_file(folder: Path) -> Path:
    m = folder / METRICS_NAME
    if m.is_file():
        return m
    for pattern in ("*.jsonl", "metrics.csv", "*.csv", "*.log", "*.txt", "logs/*.log", "logs/*.txt"):
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
    events = event_files(folder)
    if events:
        return folder
    raise DoctorError(
        f"no metrics.jsonl (or *.jsonl / *.csv / *.log / *.txt / TensorBoard events) in the run folder {folder}"
    )


def _rows_to_records(rows, table: AliasTable, ledger: KeyLedger) -> list[Record]:
    out: list[Record] = []
    for row, line in rows:
        out.extend(make_record(row, line=line, table=table, ledger=ledger))
    return out


def load_run(path: str | Path, aliases: dict[str, list[str]] | None = None) -> Run:
    """Parse a run folder, a metrics.jsonl, a CSV, TensorBoard events or a text log.

    ``aliases`` extends the alias table (canonical name -> other names), as the ``[aliases]``
    table of a rules file does. Raises :class:`DoctorError`."""
    p = Path(path)
    if not p.exists():
        raise DoctorError(f"no such run folder or log file: {p}")
    table = AliasTable(aliases) if aliases else DEFAULT_TABLE
    config: dict[str, Any] = {}
    config_source = None
    if p.is_dir():
        cfg = p / "config.toml"
        if cfg.is_file():
            config, config_source = read_config(cfg), str(cfg)
        metrics = _pick_metrics_file(p)
    else:
        metrics = p
        cfg = p.parent / "config.toml"
        if p.name == METRICS_NAME and cfg.is_file():
            config, config_source = read_config(cfg), str(cfg)
    notes: list[str] = []
    ledger = KeyLedger()
    try:
        if metrics.is_dir() or is_event_file(metrics):
            records = _rows_to_records(read_event_rows(metrics), table, ledger)
            fmt = "tensorboard"
        elif metrics.suffix.lower() == ".csv":
            rows, csv_notes = read_csv_rows(metrics)
            notes.extend(csv_notes)
            records = _rows_to_records(rows, table, ledger)
            fmt = "csv"
        elif _looks_like_jsonl(metrics):
            records, bad = _read_jsonl(metrics, table, ledger)
            fmt = "jsonl"
            if bad:
                notes.append(f"{bad} lines of {metrics.name} were not JSON objects and were skipped")
        else:
            records, log_config = _read_text(metrics, table, ledger, notes)
            fmt = "text"
            if log_config and not config:
                config, config_source = log_config, f"{metrics.name} (argument dump)"
    except OSError as exc:
        raise DoctorError(f"cannot read {metrics}: {exc}") from exc
    train = [r for r in records if r.kind == "train"]
    val = [r for r in records if r.kind == "val"]
    if not train:
        found = f"; keys it did not recognise: {', '.join(sorted(ledger.unrecognised))}" if ledger.unrecognised else ""
        raise DoctorError(
            f"no training metrics found in {metrics} (expected JSON lines, CSV columns or 'key: value' pairs "
            f"with keys such as {', '.join(LOSS_KEYS[:5])}){found}"
        )
    vaekit_run = config_source is not None and config_source.endswith("config.toml") and fmt == "jsonl"
    return _finish(str(metrics), fmt, train, val, config, config_source, notes, ledger, vaekit_run)


def _finish(source, fmt, train, val, config, config_source, notes, ledger, vaekit_run=False) -> Run:
    per_step = [r for r in train if not r.aggregate]
    if per_step and len(per_step) < len(train):
        ledger.set_aside["epoch-mean rows (only *_epoch keys); the per-step rows were judged"] += len(train) - len(per_step)
        train = per_step
    _drop_quanta_if_exact(train)
    unit, spe = assign_positions(train, notes)
    train = dedupe(train, notes)
    _place_val(val, train, unit)
    return Run(source, fmt, train, val, config, config_source, notes, unit, spe, ledger, vaekit_run)


def _place_val(val: list[Record], train: list[Record], unit: str) -> None:
    """A validation line without a step sits at its epoch (epoch unit) or after the training
    line before it."""
    by_line = sorted(train, key=lambda r: r.line)
    for r in val:
        if r.step is not None:
            continue
        if unit == "epoch" and r.epoch is not None:
            r.step = r.epoch
            continue
        before = [t for t in by_line if t.line <= r.line]
        r.step = (before[-1] if before else by_line[0]).step
    val.sort(key=lambda r: r.step or 0)


def run_from_records(records: list[dict[str, Any]], config: dict[str, Any] | None = None) -> Run:
    """Build a :class:`Run` from in-memory dicts (the trainer's own records)."""
    recs: list[Record] = []
    ledger = KeyLedger()
    for i, raw in enumerate(records):
        recs.extend(make_record(_flatten(raw), line=i + 1, ledger=ledger))
    train = [r for r in recs if r.kind == "train"]
    if not train:
        raise DoctorError("no training metrics in the given records")
    val = [r for r in recs if r.kind == "val"]
    return _finish("<records>", "records", train, val, dict(config or {}), None, [], ledger)
