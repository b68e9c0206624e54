"""``manifest.json`` of an artifacts folder: which exports in it are complete and passed parity.

An export is built in a hidden staging folder next to the target (``.DIR.tmp-PID-HOST-RANDOM``,
:func:`staging_folder`) and only when every parity check passed are its files moved into ``DIR``
and recorded here, per format: the files with their size and BLAKE2b-256 digest, the dtype, and
the parity report. The manifest is the commit point: the entry of a format is removed before
its files are replaced and written again after, so an interrupted move leaves no entry.
Backends (:func:`require_passed`) run only files that an entry lists with their exact bytes.

A run killed outright leaves its staging folder behind; the next export into the same ``DIR``
removes those of processes that are gone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from ..errors import InputError
from ..io.atomic import _host_tag, _pid_alive, atomic_output, make_folder

MANIFEST_NAME = "manifest.json"
FORMAT = "vaekit-export-manifest"
VERSION = 1
_BLOCK = 1 << 22


def file_digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as f:
        while block := f.read(_BLOCK):
            h.update(block)
    return h.hexdigest()


def read_manifest(folder: Path) -> dict | None:
    """The folder's manifest, None if there is none; InputError if it is unreadable."""
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"cannot read {path}: {e}; run `vaekit export` into {folder} again") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"{path} is not a vaekit export manifest; run `vaekit export` into {folder} again")
    return data


def write_manifest(folder: Path, data: dict) -> Path:
    path = folder / MANIFEST_NAME
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")
    return path


def _empty(model_name: str, model_sha256: str) -> dict:
    return {"format": FORMAT, "version": VERSION, "model_name": model_name, "model_sha256": model_sha256,
            "exports": {}}  # fmt: skip


def entry(files: list[Path], dtype: str, report: Path, not_run: int) -> dict:
    """A format's manifest entry for ``files`` (hashed where they lie; names relative to the folder)."""
    return {
        "dtype": dtype,
        "parity": "passed",
        "checks_not_run": not_run,
        "report": report.name,
        "files": {
            f.name: {"bytes": f.stat().st_size, "blake2b": file_digest(f), "parity": "passed"} for f in files
        },
    }


def commit(
    stage: Path, out: Path, entries: dict[str, dict], model_name: str, model_sha256: str
) -> list[Path]:
    """Move every file of ``stage`` into ``out`` and record ``entries`` (format -> entry) in its
    manifest; returns the files now in ``out`` (the manifest last)."""
    make_folder(out)
    data = read_manifest(out) or _empty(model_name, model_sha256)
    data.update(model_name=model_name, model_sha256=model_sha256)
    for fmt, new in entries.items():
        old = data["exports"].pop(fmt, None)
        if old is not None and old.get("dtype") == new["dtype"]:  # e.g. --part decoder after --part encoder
            kept = {n: r for n, r in old["files"].items() if n not in new["files"] and (out / n).is_file()}
            new["files"] = {**kept, **new["files"]}
    write_manifest(out, data)  # files of these formats are about to change: no entry meanwhile
    moved = []
    for f in sorted(stage.iterdir()):
        os.replace(f, out / f.name)
        moved.append(out / f.name)
    data["exports"].update(entries)
    moved.append(write_manifest(out, data))
    return moved


def require_passed(folder: Path, fmt: str, needed: list[Path]) -> None:
    """Refuse ``needed`` files of ``folder`` unless its manifest lists them under ``fmt`` with
    passed parity and they have exactly the recorded bytes (one line saying to export again)."""
    again = f"run `vaekit export --format {fmt} -o {folder}` again"
    data = read_manifest(folder)
    if data is None:
        raise InputError(
            f"{folder} has no {MANIFEST_NAME}: the export into it was interrupted, failed its parity check, or "
            f"predates manifests; {again}"
        )
    e = data.get("exports", {}).get(fmt)
    if e is None or e.get("parity") != "passed":
        raise InputError(
            f"{folder} holds no complete {fmt} export with passed parity (see {MANIFEST_NAME}); {again}"
        )
    for path in needed:
        rec = e["files"].get(path.name)
        if rec is None:
            raise InputError(
                f"{path} is not part of the {fmt} export recorded in {folder / MANIFEST_NAME}; {again}"
            )
        if path.stat().st_size != rec["bytes"] or file_digest(path) != rec["blake2b"]:
            raise InputError(f"{path} changed since it was exported and parity-checked; {again}")


# -- staging ---------------------------------------------------------------------------------
def _stale_pattern(out: Path) -> re.Pattern:
    return re.compile(rf"\.{re.escape(out.name)}\.tmp-(\d+)-([0-9a-f]{{6}})-[0-9a-f]{{8}}")


def remove_stale_staging(out: Path) -> list[Path]:
    """Staging folders of exports into ``out`` whose process (on this host) is gone: removed."""
    pattern, removed = _stale_pattern(out), []
    try:
        candidates = [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.tmp-")]
    except OSError:
        return removed
    for p in candidates:
        m = pattern.fullmatch(p.name)
        if m and p.is_dir() and m[2] == _host_tag() and not _pid_alive(int(m[1])):
            shutil.rmtree(p, ignore_errors=True)
            removed.append(p)
    return removed


@contextlib.contextmanager
def staging_folder(out: Path) -> Iterator[Path]:
    """A fresh hidden folder next to ``out`` for one export; removed when the block ends, however
    it ends (what should stay was moved out of it by :func:`commit`)."""
    make_folder(out.parent)
    remove_stale_staging(out)
    stage = out.with_name(f".{out.name}.tmp-{os.getpid()}-{_host_tag()}-{secrets.token_hex(4)}")
    make_folder(stage)
    try:
        yield stage
    finally:
        shutil.rmtree(stage, ignore_errors=True)
