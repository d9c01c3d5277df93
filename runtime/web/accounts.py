"""Local accounts of the page: argon2 password hashes, roles, lockout and login sessions in one SQLite file.

A session is a random token in a cookie; only its SHA-256 is stored, with the account, a CSRF token and the
expiry. Account names are staff logins, never patient data.
"""

from __future__ import annotations

import enum
import hashlib
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from .errors import AccountError, LockedError, LoginError

SCHEMA = """
CREATE TABLE IF NOT EXISTS accounts (
    name TEXT PRIMARY KEY,
    hash TEXT NOT NULL,
    role TEXT NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    locked INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    last_login_at REAL
);
CREATE TABLE IF NOT EXISTS sessions (
    token_sha256 TEXT PRIMARY KEY,
    account TEXT NOT NULL REFERENCES accounts(name) ON DELETE CASCADE,
    csrf TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
"""
NAME_RULE = re.compile(r"[a-z][a-z0-9._-]{1,31}")
MIN_PASSWORD = 10


class Role(enum.StrEnum):
    """What an account may do (docs/web.md): each role includes the ones before it."""

    TECHNOLOGIST = "technologist"  #: worklist, exam view, biopsy view, box view
    RADIOLOGIST = "radiologist"  #: ... and recompute a biopsy target for another cluster
    ADMIN = "admin"  #: ... and unlock accounts

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


@dataclass(frozen=True, kw_only=True)
class Account:
    name: str
    role: Role
    failures: int
    locked: bool
    created_at: float
    last_login_at: float | None


@dataclass(frozen=True, kw_only=True)
class Session:
    account: str
    role: Role
    csrf: str
    expires_at: float


def _sha(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    if not NAME_RULE.fullmatch(name):
        raise AccountError(f"account name {name!r} must be 2-32 characters: a lower-case letter, then lower-case "
                           f"letters, digits, '.', '_' or '-'")
    return name


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password must be at least {MIN_PASSWORD} characters (got {len(password)})")
    return password


class AccountStore:
    """Thread-safe access to ``accounts.sqlite`` (WAL, one connection, one lock)."""

    def __init__(self, path: Path, *, lockout_failures: int = 5, session_s: float = 36000.0,
                 hasher: PasswordHasher | None = None) -> None:
        """``hasher``: argon2-cffi's defaults (argon2id, 64 MiB, 3 passes) unless given (tests use a cheap one)."""
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path, self.lockout_failures, self.session_s = path, lockout_failures, session_s
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(SCHEMA)
        path.chmod(0o600)
        self._lock = threading.Lock()
        self._hasher = hasher or PasswordHasher()
        self._dummy = self._hasher.hash(secrets.token_hex(16))  # same work for unknown names

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- accounts -------------------------------------------------------------------------------
    def add(self, name: str, password: str, role: Role) -> Account:
        check_name(name)
        with self._lock:
            if self._db.execute("SELECT 1 FROM accounts WHERE name=?", (name,)).fetchone():
                raise AccountError(f"account {name!r} exists already (rule: names are unique)")
        digest = self._hasher.hash(check_password(password))
        with self._lock:
            try:
                self._db.execute("INSERT INTO accounts(name, hash, role, created_at) VALUES (?,?,?,?)",
                                 (name, digest, Role(role).value, time.time()))
            except sqlite3.IntegrityError:
                raise AccountError(f"account {name!r} exists already (rule: names are unique)") from None
        return self.get(name)

    def get(self, name: str) -> Account:
        with self._lock:
            row = self._db.execute("SELECT name, role, failures, locked, created_at, last_login_at FROM accounts "
                                   "WHERE name=?", (name,)).fetchone()
        if row is None:
            raise AccountError(f"account {name!r} does not exist")
        return Account(name=row[0], role=Role(row[1]), failures=row[2], locked=bool(row[3]), created_at=row[4],
                       last_login_at=row[5])

    def list(self) -> list[Account]:
        with self._lock:
            names = [r[0] for r in self._db.execute("SELECT name FROM accounts ORDER BY name")]
        return [self.get(n) for n in names]

    def set_password(self, name: str, password: str) -> None:
        """A new password; unlocks the account and ends its sessions."""
        self.get(name)
        digest = self._hasher.hash(check_password(password))
        with self._lock:
            self._db.execute("UPDATE accounts SET hash=?, failures=0, locked=0 WHERE name=?", (digest, name))
            self._db.execute("DELETE FROM sessions WHERE account=?", (name,))

    def set_locked(self, name: str, locked: bool) -> None:
        self.get(name)
        with self._lock:
            self._db.execute("UPDATE accounts SET locked=?, failures=0 WHERE name=?", (int(locked), name))
            if locked:
                self._db.execute("DELETE FROM sessions WHERE account=?", (name,))

    # -- login ----------------------------------------------------------------------------------
    def login(self, name: str, password: str, now: float | None = None) -> tuple[str, Session]:
        """A new session (its cookie token and record); ``LoginError`` for a wrong name or password (one message
        for both), ``LockedError`` when the account is locked. The N-th wrong password in a row locks it."""
        now = time.time() if now is None else now
        with self._lock:
            row = self._db.execute("SELECT hash, role, locked FROM accounts WHERE name=?", (name,)).fetchone()
        if row is None:
            try:
                self._hasher.verify(self._dummy, password)
            except VerificationError:
                pass
            raise LoginError("account name or password is wrong")
        digest, role, locked = row
        if locked:
            raise LockedError(f"account is locked after {self.lockout_failures} wrong passwords; an admin unlocks it "
                              f"(mammoedge user lock --unlock NAME)")
        try:
            self._hasher.verify(digest, password)
        except (VerifyMismatchError, InvalidHashError):
            with self._lock:
                self._db.execute("UPDATE accounts SET failures=failures+1, locked=(failures+1>=?) WHERE name=?",
                                 (self.lockout_failures, name))
                (failures,) = self._db.execute("SELECT failures FROM accounts WHERE name=?", (name,)).fetchone()
            if failures >= self.lockout_failures:
                raise LockedError(f"account is locked after {self.lockout_failures} wrong passwords; an admin "
                                  f"unlocks it (mammoedge user lock --unlock NAME)") from None
            raise LoginError("account name or password is wrong") from None
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        session = Session(account=name, role=Role(role), csrf=csrf, expires_at=now + self.session_s)
        with self._lock:
            if self._hasher.check_needs_rehash(digest):
                self._db.execute("UPDATE accounts SET hash=? WHERE name=?", (self._hasher.hash(password), name))
            self._db.execute("UPDATE accounts SET failures=0, last_login_at=? WHERE name=?", (now, name))
            self._db.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
            self._db.execute("INSERT INTO sessions(token_sha256, account, csrf, created_at, expires_at) "
                             "VALUES (?,?,?,?,?)", (_sha(token), name, csrf, now, session.expires_at))
        return token, session

    def session(self, token: str | None, now: float | None = None) -> Session | None:
        """The live session of a cookie token, or None (unknown, expired, or its account locked)."""
        if not token:
            return None
        now = time.time() if now is None else now
        with self._lock:
            row = self._db.execute(
                "SELECT s.account, a.role, s.csrf, s.expires_at FROM sessions s JOIN accounts a ON a.name = s.account "
                "WHERE s.token_sha256=? AND s.expires_at > ? AND a.locked = 0", (_sha(token), now)).fetchone()
        if row is None:
            return None
        return Session(account=row[0], role=Role(row[1]), csrf=row[2], expires_at=row[3])

    def logout(self, token: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE token_sha256=?", (_sha(token),))
