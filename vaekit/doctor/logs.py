"""Read a training run's metrics into one uniform shape.

Accepted inputs:

* a vaekit run folder (``metrics.jsonl`` + ``config.toml``, the resolved recipe);
* any JSON-lines file with one object per log step (nested objects are flattened);
* a plain-text log from another trainer in which each line carries ``key: value`` or
  ``key=value`` pairs, e.g. taming / Open-Sora-Plan style lines such as
  ``Epoch 1 step 80: rec_loss: 0.0205, perception_loss: 0.03`` or python dict reprs such as
  ``{'train/rec_loss': 0.0205, 'train/kl_loss': 36706.1}``.

Keys are normalised (``train/`` prefixes stripped, a few common aliases mapped to the vaekit
names); unknown keys are kept and ignored by the rules. Every number remembers how many digits it
was printed with, so the bookkeeping checks can tell rounding from a real mismatch.
"""

from __future__ import annotations

import functools
import json
import math
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vaekit.errors import InputError

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


class DoctorError(InputError):
    """The run cannot be read (missing file, nothing that looks like metrics, bad rules file)."""

    exit_code = 2


#: The loss keys of docs/DESIGN.md ("Training"), logged by ``vaekit train`` on every log line.
LOSS_KEYS = (
    "rec_loss",
    "perception_loss",
    "kl_loss",
    "nll_loss",
    "vae_loss",
    "d_weight",
    "disc_factor",
    "g_loss",
    "total_loss",
    "disc_loss",
    "logits_real",
    "logits_fake",
    "grad_norm",
)
#: Keys that make a line a training log line (``lr`` alone does not).
TRAIN_KEYS = frozenset(LOSS_KEYS) | {"loss"}
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

ALIASES = {
    "perceptual_loss": "perception_loss",
    "p_loss": "perception_loss",
    "lpips_loss": "perception_loss",
    "d_loss": "disc_loss",
    "discloss": "disc_loss",
    "discriminator_loss": "disc_loss",
    "gen_loss": "g_loss",
    "generator_loss": "g_loss",
    "aeloss": "total_loss",
    "learning_rate": "lr",
    "gradient_norm": "grad_norm",
    "iteration": "step",
    "iter": "step",
    "global_step": "global_step",
}
_TRAIN_PREFIXES = {"train", "training", "loss", "losses"}
_VAL_PREFIXES = {"val", "valid", "validation", "eval", "test"}


@dataclass
class Record:
    """One log line: its step, epoch, kind (``train`` or ``val``) and numeric values.

    ``quantum`` holds, per key, half a unit of the last printed digit (0 for full-precision
    numbers), i.e. how far the printed value may be from the value the trainer computed.
    """

    step: int | None
    values: dict[str, float]
    kind: str = "train"
    epoch: int | None = None
    phase: str | None = None
    quantum: dict[str, float] = field(default_factory=dict)
    line: int = 0

    def get(self, key: str) -> float | None:
        return self.values.get(key)

    def q(self, key: str) -> float:
        return self.quantum.get(key, 0.0)


@dataclass
class Run:
    """A parsed run: training lines sorted by step, validation lines, the recipe."""

    source: str
    fmt: str
    train: list[Record]
    val: list[Record] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    config_source: str | None = None
    notes: list[str] = field(default_factory=list)

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


class _Num(float):
    """A float that remembers the text it was parsed from (for ``json.loads(parse_float=...)``)."""

    token: str

    def __new__(cls, token: str) -> _Num:
        obj = super().__new__(cls, float(token))
        obj.token = token
        return obj


@functools.lru_cache(maxsize=4096)
def normalize_key(key: str) -> tuple[str, bool]:
    """Map a logged key to the vaekit name; returns ``(name, is_validation)``."""
    k = key.strip().strip("'\"")
    parts = [p for p in re.split(r"[/.]", k) if p]
    is_val = False
    while len(parts) > 1 and parts[0].lower() in _TRAIN_PREFIXES | _VAL_PREFIXES:
        is_val = is_val or parts[0].lower() in _VAL_PREFIXES
        parts = parts[1:]
    name = "/".join(parts).lower() if parts else k.lower()
    name = ALIASES.get(name, name)
    if name in VAL_BARE_KEYS:
        is_val = True
    if is_val:
        name = "val/" + name
    return name, is_val


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
    for key in ("disc_loss", "disc_loss_type", "gan_loss", "adversarial_loss"):
        v = find_key(config, key)
        if isinstance(v, str) and v.lower() in {"hinge", "vanilla", "bce", "non-saturating"}:
            out["gan_loss"] = v.lower()
            break
    return out


# ----------------------------------------------------------------------------------------------
# building records


def make_record(raw: dict[str, Any], line: int = 0, tokens: dict[str, str] | None = None) -> list[Record]:
    """Turn one flat ``{key: value}`` mapping into one train record and/or one val record."""
    tokens = tokens or {}
    train: dict[str, float] = {}
    val: dict[str, float] = {}
    qtrain: dict[str, float] = {}
    qval: dict[str, float] = {}
    strings: dict[str, str] = {}
    for key, v in raw.items():
        if isinstance(v, str):
            strings[normalize_key(key)[0]] = v
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        name, is_val = normalize_key(key)
        token = tokens.get(key) or getattr(v, "token", None)
        target, qt = (val, qval) if is_val else (train, qtrain)
        target[name] = float(v)
        if token is not None:
            qt[name] = quantum_of(token)
    kind = strings.get("kind", "").lower()
    step_v = train.pop("global_step", None)
    local_step = train.pop("step", None)
    if step_v is None:
        step_v = local_step
    epoch_v = train.pop("epoch", None)
    step = int(step_v) if step_v is not None and math.isfinite(step_v) else None
    epoch = int(epoch_v) if epoch_v is not None and math.isfinite(epoch_v) else None
    phase = strings.get("phase")
    for k in ("step", "epoch", "global_step"):
        qtrain.pop(k, None)
    out: list[Record] = []
    if kind == "val":
        val.update({("val/" + k if not k.startswith("val/") else k): x for k, x in train.items()})
        qval.update({("val/" + k if not k.startswith("val/") else k): x for k, x in qtrain.items()})
        train = {}
    if train and (kind == "train" or TRAIN_KEYS & train.keys()):
        out.append(Record(step, train, "train", epoch, phase, qtrain, line))
    elif train and not val:
        return []
    if val:
        out.append(Record(step, val, "val", epoch, phase, qval, line))
    return out


_NUM = r"[-+]?(?:nan|inf(?:inity)?|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
_KEY = r"[A-Za-z_][\w./-]*"
# a quoted key ('train/rec_loss': ...) or a bare one (rec_loss: ... / rec_loss=...); a bare key may
# not start inside a quoted string, so device='cuda:0' yields nothing
_PAIR = re.compile(
    rf"""(?:'(?P<k1>{_KEY})'|"(?P<k2>{_KEY})"|(?<![\w'"./-])(?P<k3>{_KEY}))\s*[:=]\s*"""
    r"""(?:tensor\(\s*|np\.float\d*\(\s*|array\(\s*)?"""
    rf"""(?P<num>{_NUM})(?![\w.])""",
    re.IGNORECASE,
)
_WORD_NUM = re.compile(
    r"\b(?P<key>epoch|global_step|step|iter|iteration)\s*(?:\[\s*|\s)\s*(?P<num>\d+)(?:\s*/\s*\d+)?",
    re.IGNORECASE,
)


def parse_text_line(text: str) -> tuple[dict[str, float], dict[str, str]]:
    """All ``key: value`` / ``key=value`` / ``Epoch 1 step 80`` pairs of a line (first wins)."""
    raw: dict[str, float] = {}
    tokens: dict[str, str] = {}
    for m in _WORD_NUM.finditer(text):
        key = m.group("key").lower()
        if key not in raw:
            raw[key] = float(m.group("num"))
            tokens[key] = m.group("num")
    for m in _PAIR.finditer(text):
        key, num = m.group("k1") or m.group("k2") or m.group("k3"), m.group("num")
        if key.lower() in raw or key in raw:
            continue
        try:
            raw[key] = float(num)
        except ValueError:  # pragma: no cover - the pattern only admits floats
            continue
        tokens[key] = num
    return raw, tokens


# ----------------------------------------------------------------------------------------------
# files


def _read_jsonl(path: Path) -> tuple[list[Record], int]:
    """Parse a JSON-lines file. The first lines are parsed keeping each number's printed digits;
    when they show full-precision numbers (as ``json.dumps`` writes floats), the rest is parsed
    without that bookkeeping, which is several times faster on long runs."""
    records: list[Record] = []
    bad = 0
    probe = 200
    parse_float: Any = _Num
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for i, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            if i == probe + 1 and parse_float is _Num and _full_precision(records):
                parse_float = float
            try:
                obj = json.loads(line, parse_float=parse_float)
            except json.JSONDecodeError:
                bad += 1
                continue
            if not isinstance(obj, dict):
                bad += 1
                continue
            records.extend(make_record(_flatten(obj), line=i))
    return records, bad


def _read_text(path: Path) -> tuple[list[Record], dict[str, Any]]:
    records: list[Record] = []
    log_config: dict[str, Any] = {}
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for i, line in enumerate(fh, 1):
            raw, tokens = parse_text_line(line)
            if not raw:
                continue
            recs = make_record(raw, line=i, tokens=tokens)
            if recs:
                records.extend(recs)
                continue
            # An argument dump (``Namespace(kl_weight=1e-12, ...)``): keep the recipe keys.
            for key, v in raw.items():
                name = normalize_key(key)[0]
                if name in RECIPE_KEYS and name not in log_config:
                    log_config[name] = v
    return records, log_config


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


def _global_steps(records: list[Record], notes: list[str]) -> None:
    """Turn per-epoch step counters into global steps; fill missing steps with the line order."""
    if not records:
        return
    if all(r.step is None for r in records):
        for i, r in enumerate(records):
            r.step = i
        notes.append("no step counter in the log: the line number stands in for the step")
        return
    epoch_relative = any(
        a.epoch is not None
        and b.epoch is not None
        and b.epoch > a.epoch
        and a.step is not None
        and b.step is not None
        and b.step < a.step
        for a, b in zip(records, records[1:])
    )
    if not epoch_relative:
        last = 0
        for r in records:
            if r.step is None:
                r.step = last
            last = r.step
        return
    diffs = [
        b.step - a.step
        for a, b in zip(records, records[1:])
        if a.epoch == b.epoch and a.step is not None and b.step is not None and b.step > a.step
    ]
    interval = int(statistics.median(diffs)) if diffs else 1
    offset = 0
    cur_epoch = records[0].epoch
    last_local = -1
    for r in records:
        if r.epoch is not None and r.epoch != cur_epoch:
            offset += last_local + interval
            cur_epoch = r.epoch
        local = r.step if r.step is not None else last_local
        last_local = local
        r.step = offset + local
    notes.append(
        f"steps restart at every epoch in this log; global steps were rebuilt assuming "
        f"{interval} steps between log lines"
    )


def _dedupe(records: list[Record], notes: list[str]) -> list[Record]:
    """Sort by step; a step logged twice (a resumed run) is merged, the later line winning."""
    by_step: dict[int, Record] = {}
    dupes = 0
    for r in records:
        assert r.step is not None
        old = by_step.get(r.step)
        if old is not None:
            dupes += 1
            old.values.update(r.values)
            old.quantum.update(r.quantum)
            old.phase = r.phase or old.phase
            old.epoch = r.epoch if r.epoch is not None else old.epoch
            old.line = r.line
        else:
            by_step[r.step] = r
    if dupes:
        notes.append(f"{dupes} steps were logged more than once: the later value of each key was used")
    return [by_step[s] for s in sorted(by_step)]


def read_config(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DoctorError(f"cannot read the recipe {path}: {exc}") from exc


def _pick_metrics_file(folder: Path) -> Path:
    m = folder / "metrics.jsonl"
    if m.is_file():
        return m
    for pattern in ("*.jsonl", "*.log", "*.txt", "logs/*.log", "logs/*.txt"):
        found = sorted(folder.glob(pattern))
        if found:
            return found[0]
    raise DoctorError(f"no metrics.jsonl (or *.jsonl / *.log / *.txt) in the run folder {folder}")


def load_run(path: str | Path) -> Run:
    """Parse a run folder, a metrics.jsonl or a text log. Raises :class:`DoctorError`."""
    p = Path(path)
    if not p.exists():
        raise DoctorError(f"no such run folder or log file: {p}")
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
        if p.name == "metrics.jsonl" and cfg.is_file():
            config, config_source = read_config(cfg), str(cfg)
    notes: list[str] = []
    try:
        if _looks_like_jsonl(metrics):
            records, bad = _read_jsonl(metrics)
            fmt = "jsonl"
            if bad:
                notes.append(f"{bad} lines of {metrics.name} were not JSON objects and were skipped")
        else:
            records, log_config = _read_text(metrics)
            fmt = "text"
            if log_config and not config:
                config, config_source = log_config, f"{metrics.name} (argument dump)"
    except OSError as exc:
        raise DoctorError(f"cannot read {metrics}: {exc}") from exc
    train = [r for r in records if r.kind == "train"]
    val = [r for r in records if r.kind == "val"]
    if not train:
        raise DoctorError(
            f"no training metrics found in {metrics} (expected JSON lines or 'key: value' pairs "
            f"with keys such as {', '.join(LOSS_KEYS[:5])})"
        )
    _drop_quanta_if_exact(train)
    _global_steps(train, notes)
    train = _dedupe(train, notes)
    for r in val:
        if r.step is None:
            r.step = train[-1].step
    val.sort(key=lambda r: r.step or 0)
    return Run(str(metrics), fmt, train, val, config, config_source, notes)


def run_from_records(records: list[dict[str, Any]], config: dict[str, Any] | None = None) -> Run:
    """Build a :class:`Run` from in-memory dicts (the trainer's own records)."""
    recs: list[Record] = []
    for i, raw in enumerate(records):
        recs.extend(make_record(_flatten(raw), line=i + 1))
    train = [r for r in recs if r.kind == "train"]
    if not train:
        raise DoctorError("no training metrics in the given records")
    notes: list[str] = []
    _global_steps(train, notes)
    train = _dedupe(train, notes)
    val = [r for r in recs if r.kind == "val"]
    return Run("<records>", "records", train, val, dict(config or {}), None, notes)
