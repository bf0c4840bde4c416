"""The peer workload files under tests/data/peer-workloads are the upstream bytes.

Each file's git blob id (sha1 of ``b"blob <size>\\0" + bytes``, what ``git hash-object``
prints) must equal the id in that folder's README table, which names the upstream repository,
commit and path it was copied from. A copy that an editor or a line-ending conversion changed
fails here, not as a confusing parse difference elsewhere; a file missing from the folder fails
here instead of leaving a parametrized reader test with nothing to run.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

PEER = Path(__file__).parent / "data" / "peer-workloads"


def _blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _table() -> dict[str, tuple[str, int]]:
    """README rows: 'folder/file' -> (blob id, bytes)."""
    out, folder = {}, None
    for line in (PEER / "README.md").read_text().splitlines():
        m = re.match(r"## `([^`]+)/`", line)
        if m:
            folder = m.group(1)
            continue
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if folder and len(cells) == 7 and re.fullmatch(r"[0-9a-f]{40}", cells[5]):
            out[f"{folder}/{cells[0]}"] = (cells[5], int(cells[2]))
    return out


def test_readme_lists_every_file_with_its_blob_id():
    table = _table()
    assert len(table) == 9
    on_disk = {f"{p.parent.name}/{p.name}" for p in PEER.glob("*/*") if p.is_file()}
    assert on_disk == set(table)
    for rel, (blob, size) in table.items():
        data = (PEER / rel).read_bytes()
        assert len(data) == size, rel
        assert _blob_id(data) == blob, rel


def test_blob_id_is_what_git_hash_object_prints():
    # `printf 'hello\n' | git hash-object --stdin`
    assert _blob_id(b"hello\n") == "ce013625030ba8dba906f756967f9e9ca394464a"


def test_licences_are_there():
    text = (PEER / "LICENSES.md").read_text()
    assert "Copyright (c) 2020 Georgia Institute of Technology" in text
    assert "Copyright (c) 2020 Facebook Inc" in text and "MIT License" in text
    assert text.count("Copyright (c) 2021, Alibaba Group") == 2
    assert "Apache License" in (PEER / "LICENSE-APACHE-2.0.txt").read_text()
    crlf = (PEER / "astra-sim-1.0" / "microAllReduce.txt").read_bytes()
    assert b"\r\n" in crlf  # the upstream line endings survived the checkout
