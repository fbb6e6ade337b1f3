"""Optional write-through persistence of the emulator's state in SQLite.

Every change a request makes is committed before its response is sent, in WAL
mode: a ``kill -9`` after an acknowledged change loses nothing (the OS keeps
what was written). Pending jobs are stored with their absolute timestamps, so
transitions carry on across a restart as if the emulator had never stopped.
Rows are JSON documents (ASCII-escaped, so any string a client sent, even a
lone surrogate, is stored safely).

A file that is not such a database (random bytes, truncated, another
program's, a directory, a table missing) is refused with StateFileError, whose
one line names the file and what is wrong: the emulator never starts on a
half-valid file, nor writes over one.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable

from .store import Account, Machine, State

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (login TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS catalog (kind TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL,
                                    PRIMARY KEY (kind, id));
CREATE TABLE IF NOT EXISTS machines (dc TEXT NOT NULL, id TEXT NOT NULL, doc TEXT NOT NULL,
                                     PRIMARY KEY (dc, id));
CREATE TABLE IF NOT EXISTS config (dc TEXT NOT NULL, login TEXT NOT NULL, doc TEXT NOT NULL,
                                   PRIMARY KEY (dc, login));
"""


#: each table and its columns, as _SCHEMA creates them
_TABLES = {"meta": ["key", "value"], "accounts": ["login", "doc"], "catalog": ["kind", "id", "doc"],
           "machines": ["dc", "id", "doc"], "config": ["dc", "login", "doc"]}


class StateFileError(ValueError):
    """The state file cannot be used; the message names it and says what is wrong."""


def _unusable(path: str, what: str) -> StateFileError:
    return StateFileError(f"state file {path} {what}; move it away or give another --state file")


def _doc(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


class SQLiteStore:
    """One SQLite file holding accounts, catalog, fleets and per-account config."""

    def __init__(self, path: str):
        self.path = path
        self._lock = threading.Lock()
        if Path(path).is_dir():
            raise _unusable(path, "is a directory")
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            raise _unusable(path, f"cannot be opened ({exc})") from None
        try:
            if self._check():
                self._db.executescript(_SCHEMA)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as exc:
            self._db.close()
            raise _unusable(path, f"is not a usable SQLite database ({exc})") from None
        except StateFileError:
            self._db.close()
            raise

    def _check(self) -> bool:
        """Validate an existing file; True when it is new (empty) and needs the schema."""
        db = self._db
        damage = [row[0] for row in db.execute("PRAGMA quick_check")]
        if damage != ["ok"]:
            raise _unusable(self.path, f"is damaged ({'; '.join(map(str, damage[:3]))})")
        names = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        if not names:
            return True
        for table, columns in _TABLES.items():
            if table not in names:
                raise _unusable(self.path, f"has no table {table!r} (it has {', '.join(sorted(names))}), "
                                           "so it is not an emulator state file or lost part of it")
            found = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
            if found != columns:
                raise _unusable(self.path, f"has table {table!r} with columns {found}, not {columns}")
        try:
            meta = {k: json.loads(v) for k, v in db.execute("SELECT key, value FROM meta")}
        except (ValueError, TypeError) as exc:
            raise _unusable(self.path, f"has an unreadable meta table ({exc})") from None
        if not meta:
            if any(db.execute(f"SELECT 1 FROM {t} LIMIT 1").fetchone() for t in _TABLES):
                raise _unusable(self.path, "holds data but no meta table rows (a half-written file)")
            return False
        if meta.get("schema") != SCHEMA_VERSION:
            raise _unusable(self.path, f"has schema version {meta.get('schema')!r}; "
                                       f"this emulator reads version {SCHEMA_VERSION}")
        if not isinstance(meta.get("datacenters"), list) or not all(
                isinstance(d, str) for d in meta["datacenters"]):
            raise _unusable(self.path, "has no list of datacenters in its meta table")
        return False

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -------------------------------------------------------------- writes

    def _write(self, sql: str, args: Iterable[Any]) -> None:
        with self._lock:
            self._db.execute(sql, tuple(args))

    def save_machine(self, dc: str, machine: Machine) -> None:
        self._write("INSERT OR REPLACE INTO machines VALUES (?, ?, ?)",
                    (dc, machine.id, _doc(machine.to_dict())))

    def save_account(self, account: Account) -> None:
        self._write("INSERT OR REPLACE INTO accounts VALUES (?, ?)",
                    (account.login, _doc(account.to_dict())))

    def save_catalog(self, kind: str, item: dict[str, Any]) -> None:
        self._write("INSERT OR REPLACE INTO catalog VALUES (?, ?, ?)", (kind, item["id"], _doc(item)))

    def delete_catalog(self, kind: str, item_id: str) -> None:
        self._write("DELETE FROM catalog WHERE kind = ? AND id = ?", (kind, item_id))

    def save_config(self, dc: str, login: str, config: dict[str, Any]) -> None:
        self._write("INSERT OR REPLACE INTO config VALUES (?, ?, ?)", (dc, login, _doc(config)))

    def replace_all(self, state: State, meta: dict[str, Any]) -> None:
        """Write the whole state in one transaction (first start, reset)."""
        with self._lock:
            db = self._db
            db.execute("BEGIN")
            try:
                for table in ("meta", "accounts", "catalog", "machines", "config"):
                    db.execute(f"DELETE FROM {table}")
                db.executemany("INSERT INTO meta VALUES (?, ?)",
                               [(k, _doc(v)) for k, v in {**meta, "schema": SCHEMA_VERSION}.items()])
                db.executemany("INSERT INTO accounts VALUES (?, ?)",
                               [(a.login, _doc(a.to_dict())) for a in state.accounts.values()])
                for kind in ("packages", "images"):
                    db.executemany("INSERT INTO catalog VALUES (?, ?, ?)",
                                   [(kind, i["id"], _doc(i)) for i in getattr(state, kind).values()])
                for dc in state.datacenters.values():
                    db.executemany("INSERT INTO machines VALUES (?, ?, ?)",
                                   [(dc.name, m.id, _doc(m.to_dict())) for m in dc.machines.values()])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    # --------------------------------------------------------------- reads

    def meta(self) -> dict[str, Any]:
        with self._lock:
            rows = self._db.execute("SELECT key, value FROM meta").fetchall()
        return {k: json.loads(v) for k, v in rows}

    def load_into(self, state: State) -> None:
        """Replace ``state``'s accounts, catalog and fleets with the stored ones
        (StateFileError when a row cannot be read back)."""
        try:
            self._load_into(state)
        except (ValueError, TypeError, KeyError, AttributeError, sqlite3.Error) as exc:
            if isinstance(exc, StateFileError):
                raise
            raise _unusable(self.path, f"holds a row that cannot be read back ({type(exc).__name__}: "
                                       f"{exc})") from None

    def _load_into(self, state: State) -> None:
        with self._lock:
            db = self._db
            accounts = db.execute("SELECT doc FROM accounts").fetchall()
            catalog = db.execute("SELECT kind, doc FROM catalog").fetchall()
            machines = db.execute("SELECT dc, doc FROM machines").fetchall()
            config = db.execute("SELECT dc, login, doc FROM config").fetchall()
        state.accounts = {}
        for (doc,) in accounts:
            account = Account.from_dict(json.loads(doc))
            state.accounts[account.login] = account
        state.packages, state.images = {}, {}
        for kind, doc in catalog:
            item = json.loads(doc)
            getattr(state, kind)[item["id"]] = item
        state.catalog_version += 1
        for dc in state.datacenters.values():
            dc.machines.clear()
            dc.busy.clear()
            dc._order = None
        for dc_name, doc in machines:
            dc = state.datacenters.get(dc_name)
            if dc is not None:
                dc.add(Machine.from_dict(json.loads(doc)))
        for dc_name, login, doc in config:
            dc = state.datacenters.get(dc_name)
            if dc is not None:
                dc.account_config[login] = json.loads(doc)
