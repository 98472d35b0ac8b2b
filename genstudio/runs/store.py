"""The run store: one SQLite database (WAL mode) indexing runs, their scalars and files.

Several processes may open the same workspace: the window reads while a command-line run
writes. Each thread gets its own connection. Every write is a short transaction, so a
process killed at any moment leaves the database consistent with what it had committed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genstudio.api import ConfigError
from genstudio.runs.workspace import Workspace, WorkspaceError

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    model TEXT NOT NULL,
    plugin TEXT,
    data TEXT NOT NULL,
    data_options TEXT NOT NULL DEFAULT '{}',
    config TEXT NOT NULL DEFAULT '{}',
    settings TEXT NOT NULL DEFAULT '{}',
    spec TEXT,
    status TEXT NOT NULL,
    step INTEGER NOT NULL DEFAULT 0,
    total_steps INTEGER,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    command TEXT NOT NULL DEFAULT '',
    device TEXT,
    error TEXT,
    pid INTEGER,
    host TEXT,
    heartbeat REAL,
    summary TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS scalars (
    run_id INTEGER NOT NULL,
    step INTEGER NOT NULL,
    key TEXT NOT NULL,
    value REAL,
    wall REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS scalars_by_run ON scalars (run_id, key, step);
CREATE TABLE IF NOT EXISTS artifacts (
    run_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    step INTEGER NOT NULL,
    path TEXT NOT NULL,
    created REAL NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS artifacts_by_run ON artifacts (run_id, kind, step);
CREATE TABLE IF NOT EXISTS messages (
    run_id INTEGER NOT NULL,
    step INTEGER NOT NULL,
    level TEXT NOT NULL,
    text TEXT NOT NULL,
    detail TEXT,
    wall REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id INTEGER NOT NULL,
    step INTEGER NOT NULL,
    metric TEXT NOT NULL,
    key TEXT NOT NULL,
    value REAL,
    extractor TEXT,
    n INTEGER,
    created REAL NOT NULL,
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS metrics_by_run ON metrics (run_id, metric);
"""

#: Statuses a run can be in. "interrupted" is never stored: it is a "running" run whose
#: process is gone.
STATUSES = ("created", "running", "paused", "finished", "stopped", "failed", "interrupted")
STALE_HEARTBEAT_S = 120.0


@dataclass
class RunRecord:
    """One row of the ``runs`` table, with JSON columns decoded."""

    id: int
    name: str
    model: str
    plugin: str | None
    data: str
    data_options: dict[str, Any]
    config: dict[str, Any]
    settings: dict[str, Any]
    spec: dict[str, Any] | None
    status: str
    step: int
    total_steps: int | None
    created: float
    updated: float
    command: str
    device: str | None
    error: str | None
    pid: int | None
    host: str | None
    heartbeat: float | None
    summary: dict[str, Any] = field(default_factory=dict)
    folder: Path | None = None

    @property
    def live_status(self) -> str:
        """The status, with a ``running`` run whose process is gone shown as ``interrupted``."""
        if self.status not in ("running", "paused"):
            return self.status
        if self.host == socket.gethostname() and self.pid and not _pid_alive(self.pid):
            return "interrupted"
        if self.heartbeat is not None and time.time() - self.heartbeat > STALE_HEARTBEAT_S:
            return "interrupted"
        return self.status

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["folder"] = str(self.folder) if self.folder else None
        d["status"] = self.live_status
        return d


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (killed, not yet reaped by its parent) is gone for our purposes
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


_JSON_COLUMNS = ("data_options", "config", "settings", "spec", "summary")


def _database_error(path: Path, exc: sqlite3.DatabaseError) -> WorkspaceError:
    """What SQLite said when opening the run database, as one line naming the file."""
    said = str(exc)
    if "not a database" in said:
        problem = "is not a SQLite database, so not a GenStudio run database; move it aside or use another workspace"
    elif "malformed" in said:
        problem = f"the run database is damaged ({said}); move it aside or use another workspace"
    else:
        problem = f"cannot open the run database ({said})"
    return WorkspaceError(f"{path}: {problem}")


class RunStore:
    """Runs, scalars and artifacts of one workspace."""

    def __init__(self, workspace: Workspace | str | Path):
        self.workspace = workspace if isinstance(workspace, Workspace) else Workspace(workspace)
        self._local = threading.local()
        try:
            self._init_schema()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise _database_error(self.workspace.db_path, exc) from None

    # -- connection ------------------------------------------------------------------------

    @property
    def db(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.workspace.db_path, timeout=30.0, isolation_level=None)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout = 30000")
            conn.execute("PRAGMA journal_mode = WAL")
            # with WAL, NORMAL survives a killed process; only a power cut may drop the last commit
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def _init_schema(self) -> None:
        db = self.db
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise ConfigError(
                f"{self.workspace.db_path}: written by a newer GenStudio (schema {version}); upgrade GenStudio"
            )
        if version < SCHEMA_VERSION:
            # executescript commits any open transaction itself, so the script carries its own
            db.executescript(f"BEGIN IMMEDIATE;\n{SCHEMA}\nPRAGMA user_version = {SCHEMA_VERSION};\nCOMMIT;")

    def transaction(self) -> _Transaction:
        return _Transaction(self.db)

    def integrity_check(self) -> str:
        return self.db.execute("PRAGMA integrity_check").fetchone()[0]

    # -- runs ------------------------------------------------------------------------------

    def create_run(
        self,
        *,
        name: str | None,
        model: str,
        plugin: str | None,
        data: str,
        data_options: dict[str, Any],
        config: dict[str, Any],
        settings: dict[str, Any],
        spec: dict[str, Any] | None,
        command: str,
        device: str | None,
        total_steps: int | None,
    ) -> RunRecord:
        now = time.time()
        with self.transaction():
            cur = self.db.execute(
                "INSERT INTO runs (name, model, plugin, data, data_options, config, settings, spec, status,"
                " total_steps, created, updated, command, device, pid, host, heartbeat)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'created', ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    name or "",
                    model,
                    plugin,
                    data,
                    json.dumps(data_options),
                    json.dumps(config),
                    json.dumps(settings),
                    None if spec is None else json.dumps(spec),
                    total_steps,
                    now,
                    now,
                    command,
                    device,
                    os.getpid(),
                    socket.gethostname(),
                    now,
                ),
            )
            run_id = int(cur.lastrowid)
            if not name:
                self.db.execute("UPDATE runs SET name = ? WHERE id = ?", (f"{model}-{run_id}", run_id))
        self.workspace.run_dir(run_id).mkdir(parents=True, exist_ok=True)
        return self.get_run(run_id)

    def update_run(self, run_id: int, **fields: Any) -> None:
        if not fields:
            return
        fields["updated"] = time.time()
        for key in _JSON_COLUMNS:
            if key in fields and fields[key] is not None:
                fields[key] = json.dumps(fields[key])
        cols = ", ".join(f"{k} = ?" for k in fields)
        with self.transaction():
            self.db.execute(f"UPDATE runs SET {cols} WHERE id = ?", (*fields.values(), run_id))

    def claim(self, run_id: int) -> None:
        """Mark a run as being written by this process."""
        now = time.time()
        self.update_run(run_id, pid=os.getpid(), host=socket.gethostname(), heartbeat=now)

    def _record(self, row: sqlite3.Row) -> RunRecord:
        d = dict(row)
        for key in _JSON_COLUMNS:
            d[key] = json.loads(d[key]) if d[key] else ({} if key != "spec" else None)
        return RunRecord(**d, folder=self.workspace.run_dir(d["id"]))

    def get_run(self, ref: int | str) -> RunRecord:
        """A run by id or by name (the newest of that name)."""
        row = None
        text = str(ref).strip()
        if text.isdigit():
            row = self.db.execute("SELECT * FROM runs WHERE id = ?", (int(text),)).fetchone()
        if row is None:
            row = self.db.execute("SELECT * FROM runs WHERE name = ? ORDER BY id DESC LIMIT 1", (text,)).fetchone()
        if row is None:
            raise ConfigError(f"no run {text!r} in the workspace {self.workspace.root}")
        return self._record(row)

    def list_runs(self) -> list[RunRecord]:
        return [self._record(r) for r in self.db.execute("SELECT * FROM runs ORDER BY id")]

    def rename_run(self, run_id: int, name: str) -> None:
        name = name.strip()
        if not name:
            raise ConfigError("a run's name cannot be empty")
        self.update_run(run_id, name=name)

    def delete_run(self, run_id: int) -> None:
        """Delete a run's rows, then its folder."""
        with self.transaction():
            for table in ("scalars", "artifacts", "messages", "metrics"):
                self.db.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
            self.db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
        shutil.rmtree(self.workspace.run_dir(run_id), ignore_errors=True)

    # -- scalars ---------------------------------------------------------------------------

    def log_scalars(self, run_id: int, rows: Iterable[tuple[int, str, float, float]]) -> None:
        """Append ``(step, key, value, wall)`` rows in one transaction."""
        rows = [(run_id, int(s), k, float(v), float(w)) for s, k, v, w in rows]
        if not rows:
            return
        with self.transaction():
            self.db.executemany("INSERT INTO scalars (run_id, step, key, value, wall) VALUES (?, ?, ?, ?, ?)", rows)

    def truncate_scalars(self, run_id: int, after_step: int) -> int:
        """Drop scalars logged after ``after_step`` (a resumed run logs them again)."""
        with self.transaction():
            cur = self.db.execute("DELETE FROM scalars WHERE run_id = ? AND step > ?", (run_id, after_step))
            self.db.execute(
                "DELETE FROM artifacts WHERE run_id = ? AND kind = 'samples' AND step > ?", (run_id, after_step)
            )
        return cur.rowcount

    def scalar_keys(self, run_id: int) -> list[str]:
        return [
            r[0] for r in self.db.execute("SELECT DISTINCT key FROM scalars WHERE run_id = ? ORDER BY key", (run_id,))
        ]

    def scalars(
        self, run_id: int, keys: Sequence[str] | None = None, after_step: int = -1
    ) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Scalars of a run: ``{key: (steps int64, values float64, walls float64)}`` in step order."""
        out: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for key in keys if keys is not None else self.scalar_keys(run_id):
            rows = self.db.execute(
                "SELECT step, value, wall FROM scalars WHERE run_id = ? AND key = ? AND step > ? ORDER BY step, rowid",
                (run_id, key, after_step),
            ).fetchall()
            # SQLite stores NaN as NULL, which becomes NaN again here
            arr = np.array(rows, dtype=np.float64).reshape(-1, 3)
            out[key] = (arr[:, 0].astype(np.int64), arr[:, 1], arr[:, 2])
        return out

    def count_scalars(self, run_id: int) -> int:
        return self.db.execute("SELECT COUNT(*) FROM scalars WHERE run_id = ?", (run_id,)).fetchone()[0]

    # -- artifacts and messages --------------------------------------------------------------

    def add_artifact(self, run_id: int, kind: str, step: int, path: str | Path, meta: dict | None = None) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT INTO artifacts (run_id, kind, step, path, created, meta) VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, kind, step, str(path), time.time(), json.dumps(meta or {})),
            )

    def remove_artifact(self, run_id: int, path: str | Path) -> None:
        with self.transaction():
            self.db.execute("DELETE FROM artifacts WHERE run_id = ? AND path = ?", (run_id, str(path)))

    def artifacts(self, run_id: int, kind: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT step, path, created, meta FROM artifacts WHERE run_id = ? AND kind = ? ORDER BY step, rowid",
            (run_id, kind),
        )
        return [{"step": r[0], "path": r[1], "created": r[2], "meta": json.loads(r[3])} for r in rows]

    def add_message(self, run_id: int, step: int, level: str, text: str, detail: str | None = None) -> None:
        with self.transaction():
            self.db.execute(
                "INSERT INTO messages (run_id, step, level, text, detail, wall) VALUES (?, ?, ?, ?, ?, ?)",
                (run_id, step, level, text, detail, time.time()),
            )

    def messages(self, run_id: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT step, level, text, detail, wall FROM messages WHERE run_id = ? ORDER BY rowid", (run_id,)
        )
        return [dict(r) for r in rows]

    # -- metrics -----------------------------------------------------------------------------

    def add_metric(
        self,
        run_id: int,
        step: int,
        metric: str,
        values: dict[str, float],
        *,
        extractor: str | None,
        n: int | None,
        details: dict | None = None,
    ) -> None:
        now = time.time()
        with self.transaction():
            self.db.executemany(
                "INSERT INTO metrics (run_id, step, metric, key, value, extractor, n, created, details)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (run_id, step, metric, k, float(v), extractor, n, now, json.dumps(details or {}))
                    for k, v in values.items()
                ],
            )

    def metrics(self, run_id: int) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "SELECT step, metric, key, value, extractor, n, created, details FROM metrics WHERE run_id = ? ORDER BY rowid",
            (run_id,),
        )
        return [{**dict(r), "details": json.loads(r["details"])} for r in rows]


class _Transaction:
    """``with store.transaction():`` BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on error.
    Nested uses join the outer transaction."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db
        self.outer = False

    def __enter__(self) -> sqlite3.Connection:
        self.outer = not self.db.in_transaction
        if self.outer:
            self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: Any, *rest: Any) -> None:
        if not self.outer:
            return
        if exc_type is None:
            self.db.execute("COMMIT")
        else:
            self.db.execute("ROLLBACK")


class SilentStore:
    """The run store of a process that must not write the run: the ranks other than 0 under
    ``torchrun``, where rank 0 writes for all. Reads return the record it was given."""

    def __init__(self, run: RunRecord):
        self.run = run

    def get_run(self, ref: int | str) -> RunRecord:
        return self.run

    def truncate_scalars(self, run_id: int, after_step: int) -> int:
        return 0

    def _nothing(self, *args: Any, **kwargs: Any) -> None:
        return None

    update_run = claim = log_scalars = add_artifact = remove_artifact = add_message = close = _nothing
