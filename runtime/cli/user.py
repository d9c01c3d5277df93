"""``mammoedge user add|passwd|list|lock``: the page's local accounts (argon2 hashes; docs/web.md)."""

from __future__ import annotations

import argparse
import getpass
import sys

from ..config import Config
from ..errors import MammoedgeError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="create an account")
    add.add_argument("name")
    add.add_argument("--role", choices=("technologist", "radiologist", "admin"), default="technologist")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    passwd = sub.add_parser("passwd", help="set a new password (unlocks the account, ends its sessions)")
    passwd.add_argument("name")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    sub.add_parser("list", help="list the accounts")
    lock = sub.add_parser("lock", help="lock an account (ends its sessions), or --unlock it")
    lock.add_argument("name")
    lock.add_argument("--unlock", action="store_true")


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise PasswordMismatch("the two passwords differ")
    return first


class PasswordMismatch(MammoedgeError):
    """The password was typed differently twice."""


def run(args: argparse.Namespace, config: Config) -> int:
    from ..web import AccountStore, Role, web_dir

    store = AccountStore(web_dir(config) / "accounts.sqlite", lockout_failures=config.web.lockout_failures)
    try:
        if args.action == "add":
            account = store.add(args.name, _password(args), Role(args.role))
            print(f"account {account.name} ({account.role.value}) added")
        elif args.action == "passwd":
            store.set_password(args.name, _password(args))
            print(f"password of {args.name} changed")
        elif args.action == "lock":
            store.set_locked(args.name, not args.unlock)
            print(f"account {args.name} {'unlocked' if args.unlock else 'locked'}")
        else:
            for a in store.list():
                print(f"{a.name}\t{a.role.value}\t{'locked' if a.locked else 'active'}\tfailures {a.failures}")
    finally:
        store.close()
    return 0
