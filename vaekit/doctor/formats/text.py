"""Text logs: the line shapes other trainers print, reduced to ``{key: value}`` plus positions.

Shapes read (each seen in real logs; see tests/fixtures/doctor/external/):

* ``key: value`` / ``key=value`` pairs anywhere in a line, python dict reprs, ``tensor(...)``;
* tqdm and PyTorch Lightning progress bars, ``Epoch 3: 100%|...| 125/125 [00:21<00:00, ...,
  recons_loss=0.0381, gen_loss=0]``: the description gives the epoch, ``n/total`` the batch, the
  postfix the values (a postfix cut off at the terminal width keeps what is before the cut);
* MAE / DeiT ``MetricLogger`` lines, ``Epoch: [1]  [200/1251]  eta: ...  loss: 0.52 (0.55)``
  (the first number is the current value; the bracketed one, a running mean, is skipped);
* ``Train: reconstruction: 0.1; generator: ...;`` lines and their ``Valid:`` twins;
* ``(Generator) ...`` and ``(Discriminator) ...`` lines of one optimizer step, merged into one
  record (with the ``(step=...)`` line that follows them, where the trainer prints one);
* ``KEY NUMBER:`` headers such as MONAI MAISI's ``Epoch 3 train_vae_loss 0.81: {...}``.

Validation lines are told apart by a leading or standalone ``val`` / ``valid`` / ``validation`` /
``eval`` / ``test`` word (``epoch 10 val loss: 0.027``), or by a ``val_`` key that opens the line.
Per-epoch summaries that repeat the step lines (``Averaged stats: ...``) are set aside.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..aliases import AliasTable

_NUM = r"[-+]?(?:nan|inf(?:inity)?|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)"
_KEY = r"[A-Za-z_][\w./-]*"
# a quoted key ('train/rec_loss': ...) or a bare one (rec_loss: ... / rec_loss=...); a bare key may
# not start inside a quoted string, so device='cuda:0' yields nothing
_PAIR = re.compile(
    rf"""(?:'(?P<k1>{_KEY})'|"(?P<k2>{_KEY})"|(?<![\w'"./-])(?P<k3>{_KEY}))\s*[:=]\s*"""
    r"""(?:tensor\(\s*|np\.float\d*\(\s*|array\(\s*)?"""
    rf"""(?P<num>{_NUM})(?![\w.]|:\d)""",
    re.IGNORECASE,
)
_WORD_NUM = re.compile(
    r"\b(?P<key>epoch|global_step|step|iter|iteration)\s*(?:\[\s*|\s)\s*(?P<num>\d+)(?:\s*/\s*\d+)?",
    re.IGNORECASE,
)
# ``train_vae_loss 0.81:`` -- a loss name, a space, a number (no colon between them)
_KEY_SPACE_NUM = re.compile(rf"(?<![\w'\"./-])(?P<key>[A-Za-z_][\w/]*loss\w*)\s+(?P<num>{_NUM})(?=\s*[:,;]|\s*$)")
_BAR = re.compile(
    r"(?P<desc>[^|\r\n]*?)\s*(?P<pct>\d{1,3})%\|[^|]*\|\s*(?P<n>\d+)/(?P<total>\d+)\s*(?:\[(?P<inside>[^\]]*)(?P<close>\])?)?"
)
_BAR_EPOCH = re.compile(r"\bepoch\s*[:\[]?\s*(?P<e>\d+)", re.IGNORECASE)
_METRIC_LOGGER = re.compile(
    r"\bepoch:?\s*\[\s*(?P<epoch>\d+)\s*\]\s*\[\s*(?P<n>\d+)\s*/\s*(?P<total>\d+)\s*\]", re.IGNORECASE
)
_METRIC_LOGGER_VAL = re.compile(r"\b(?P<head>test|val|valid|validation|eval):\s*\[\s*(?P<n>\d+)\s*/\s*(?P<total>\d+)\s*\]", re.I)
_ROLE = re.compile(r"\((?P<role>generator|discriminator)\)|^\W*(?P<role2>generator|discriminator)\s*[:|-]", re.I)
_VAL_WORD = re.compile(r"(?<![\w/'\".-])(?P<w>val|valid|validation|eval|evaluation|test|testing)(?![\w/'\"-])", re.I)
_SUMMARY = re.compile(r"\baveraged stats\b|\bepoch summary\b|\btotal time\b", re.I)
_SKIP_BAR = re.compile(r"^\W*(validation|validating|sanity checking|testing|predicting)\b", re.I)
# timestamps and logger prefixes that come before the message ("[2024-05-02 10:00:07] INFO ",
# "INFO:vae_trainer:", "2023-05-07 11:46:23,294 [INFO] ")
_PREFIX = re.compile(
    r"^\s*(?:\[[^\]]*\d{2}:\d{2}[^\]]*\]\s*|\d{4}-\d{2}-\d{2}[ T][\d:,.]+\s*|"
    r"(?:INFO|DEBUG|WARNING|ERROR)(?::[\w.]+:|\b)\s*|\[(?:INFO|DEBUG|WARNING)\]\s*)+"
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
        raw[key] = float(num)
        tokens[key] = num
    return raw, tokens


@dataclass
class TextLine:
    """What one line of a text log holds."""

    values: dict[str, float]
    tokens: dict[str, str]
    line: int
    epoch: int | None = None
    batch: int | None = None  # the progress counter's n (batches done in this epoch)
    batches: int | None = None  # its total
    role: str | None = None  # "generator" / "discriminator" for split G/D lines
    val: bool = False
    bar: bool = False
    cut: bool = False  # a progress-bar postfix cut off at the terminal width


@dataclass
class TextScan:
    lines: list[TextLine] = field(default_factory=list)
    summaries: int = 0  # per-epoch summary lines set aside
    val_bars: int = 0  # validation progress bars set aside
    cut_bars: int = 0


def scan_line(text: str, number: int, table: AliasTable) -> TextLine | None:
    """Parse one line; ``None`` when it holds no number pairs at all."""
    body = _PREFIX.sub("", text.rstrip("\n"), count=1)
    if "\r" in body:
        body = body.rsplit("\r", 1)[-1]
    epoch = batch = batches = None
    bar = cut = False
    val = False
    m = _BAR.search(body)
    if m:
        bar = True
        desc = m.group("desc") or ""
        if _SKIP_BAR.search(desc):
            return TextLine({}, {}, number, bar=True, val=True)
        em = _BAR_EPOCH.search(desc)
        if em:
            epoch = int(em.group("e"))
        batch, batches = int(m.group("n")), int(m.group("total"))
        inside = m.group("inside") or ""
        cut = m.group("inside") is not None and m.group("close") is None
        values, tokens = parse_text_line(inside)
        return TextLine(values, tokens, number, epoch, batch, batches, None, False, True, cut)
    ml = _METRIC_LOGGER.search(body)
    if ml:
        epoch, batch, batches = int(ml.group("epoch")), int(ml.group("n")), int(ml.group("total"))
        rest = body[: ml.start()] + " " + body[ml.end() :]
    else:
        mv = _METRIC_LOGGER_VAL.search(body)
        if mv:
            val = True
            batch, batches = int(mv.group("n")), int(mv.group("total"))
            rest = body[: mv.start()] + " " + body[mv.end() :]
        else:
            rest = body
    rest = re.sub(rf"(?<=\d)\s*\(\s*{_NUM}\s*\)", "", rest)  # MetricLogger's running mean "(0.55)"
    values, tokens = parse_text_line(rest)
    for km in _KEY_SPACE_NUM.finditer(rest):
        key = km.group("key")
        if key not in values:
            values[key] = float(km.group("num"))
            tokens[key] = km.group("num")
    if not values:
        return None
    if epoch is None and "epoch" in values:
        epoch = int(values.pop("epoch"))
        tokens.pop("epoch", None)
    role = None
    r = _ROLE.search(body)
    if r:
        role = (r.group("role") or r.group("role2")).lower()
    if not val:
        val = _is_val_line(rest, values, table)
    return TextLine(values, tokens, number, epoch, batch, batches, role, val, bar, cut)


def _is_val_line(text: str, values: dict[str, float], table: AliasTable) -> bool:
    """A standalone validation word before the first value, or a ``val_`` key opening the line."""
    where = {k: text.find(k) for k in values}
    first = min((p for p in where.values() if p >= 0), default=len(text))
    w = _VAL_WORD.search(text)
    if w is not None and w.start() < first:
        return True
    names = {k: table.normalize(k) for k in values}
    val_at = [where[k] for k, n in names.items() if n.val and where[k] >= 0]
    other = [where[k] for k, n in names.items() if not n.val and not n.ignored and where[k] >= 0]
    trained = any(n.raw.lower().startswith(("train", "training")) for n in names.values())
    return bool(val_at) and not trained and (not other or min(val_at) < min(other))


def is_summary_line(text: str) -> bool:
    return bool(_SUMMARY.search(text))


def _segments(lines):
    """``(line number, text)`` for every render of a line: a terminal capture keeps each progress
    bar refresh of an epoch on one line, separated by carriage returns."""
    for number, text in enumerate(lines, 1):
        if "\r" in text:
            for seg in text.split("\r"):
                if seg.strip():
                    yield number, seg
        else:
            yield number, text


def read_text_lines(lines, table: AliasTable) -> TextScan:
    """Scan every line; merge split ``(Generator)`` / ``(Discriminator)`` lines of one step."""
    scan = TextScan()
    pending: TextLine | None = None
    roles: set[str] = set()
    epoch: int | None = None

    def flush() -> None:
        nonlocal pending
        if pending is not None:
            scan.lines.append(pending)
        pending = None
        roles.clear()

    for number, text in _segments(lines):
        if is_summary_line(text):
            if any("loss" in (m.group("k1") or m.group("k2") or m.group("k3")).lower() for m in _PAIR.finditer(text)):
                scan.summaries += 1
            continue
        tl = scan_line(text, number, table)
        if tl is None:
            continue
        if tl.epoch is not None:
            epoch = tl.epoch
        elif not tl.bar:
            tl.epoch = epoch
        if tl.bar and tl.val and not tl.values:
            scan.val_bars += 1
            continue
        if tl.cut:
            scan.cut_bars += 1
        if not tl.values:
            continue
        if tl.role is not None:
            if pending is not None and tl.role in roles:
                flush()
            if pending is None:
                pending = tl
            else:
                for k, v in tl.values.items():
                    pending.values.setdefault(k, v)
                    if k in tl.tokens:
                        pending.tokens.setdefault(k, tl.tokens[k])
            roles.add(tl.role)
            continue
        if pending is not None:
            has_step = any(k.lower() in ("step", "global_step", "iter", "iteration") for k in tl.values)
            if has_step and not tl.val:
                for k, v in tl.values.items():
                    pending.values.setdefault(k, v)
                    if k in tl.tokens:
                        pending.tokens.setdefault(k, tl.tokens[k])
                flush()
                continue
            flush()
        scan.lines.append(tl)
    flush()
    return scan
