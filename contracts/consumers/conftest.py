"""Write every pact to a fresh directory, then compare it with the committed one.

Each test builds its own :class:`pact.Pact` with one interaction (a served pact
cannot take more) and writes it with ``overwrite=False``, which makes the Pact
FFI merge interactions of the same consumer and provider into one file.

At the end of the session every generated interaction must appear, identical,
in the committed pact in ``contracts/pacts/``, so a changed consumer cannot
silently drift from the contract CI verifies (a subset check, so that running
one test alone works). ``COVENANT_UPDATE_PACTS=1`` (``make pacts``) writes the
generated pacts there instead.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contracts.paths import PACTS_DIR


def _normalised(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    document.get("metadata", {}).pop("pactRust", None)
    document["interactions"] = sorted(
        document.get("interactions", []), key=lambda i: (i.get("description", ""), json.dumps(i))
    )
    return document


@pytest.fixture(scope="session")
def pact_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    os.environ.setdefault("PACT_DO_NOT_TRACK", "true")
    out = tmp_path_factory.mktemp("pacts")
    yield out
    written = sorted(out.glob("*.json"))
    if os.environ.get("COVENANT_UPDATE_PACTS") == "1":
        PACTS_DIR.mkdir(parents=True, exist_ok=True)
        for path in written:
            document = json.loads(path.read_text(encoding="utf-8"))
            document["interactions"] = _normalised(path)["interactions"]
            (PACTS_DIR / path.name).write_text(
                json.dumps(document, indent=2, sort_keys=True) + "\n", encoding="utf-8"
            )
        return
    drift = []
    for path in written:
        committed = PACTS_DIR / path.name
        if not committed.exists():
            drift.append(f"{path.name}: not committed in contracts/pacts/")
            continue
        generated, expected = _normalised(path), _normalised(committed)
        for interaction in generated["interactions"]:
            if interaction not in expected["interactions"]:
                drift.append(
                    f"{path.name}: interaction '{interaction.get('description')}' differs "
                    "from the committed pact"
                )
                shutil.copy(path, out / f"{path.stem}.generated.json")
    assert not drift, (
        "consumer tests produce different pacts than the committed ones; run "
        "`make pacts` to update them and review the diff:\n  " + "\n  ".join(drift)
    )
