"""``python -m annotations``: accounts, campaigns, exports and summaries of the ratings store.

Examples::

    python -m annotations add-user users.csv alice --role admin     # an account: a GEM_AUTH_FILE line (scrypt hash)
    python -m annotations create-rater alice --role admin          # the same, into GEM_AUTH_FILE and the store
    python -m annotations import-campaign study.jsonl --name pilot --k 2 --guidelines guide.md --assign
    python -m annotations progress pilot
    python -m annotations export --format dpo --out data/pairs.jsonl --metric overall_satisfaction --min-margin 1
    python -m annotations summary --json

Every command but ``add-user`` and ``hash-password`` takes ``--db URL`` (default: ``GEM_DB_URL`` or the
SQLite file under ``GEM_DATA_DIR``).
The CLI acts as the database's administrator: whoever can open the file holds the data anyway.
Errors print one ``error:`` line and exit with status 2.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path

from annotations.exports import FORMATS, PAIR_SOURCES
from annotations.metrics import METRIC_NAMES
from gem_core.errors import GemError
from gem_core.settings import get_settings


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m annotations", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)

    def add(name, help_):
        cmd = sub.add_parser(name, help=help_)
        cmd.add_argument(
            "--db", default=None, help="database URL (default: GEM_DB_URL or data/gem_studio.sqlite3)"
        )
        return cmd

    c = add(
        "create-rater",
        "add an account to the users file the app signs in with (--file, default GEM_AUTH_FILE) and to "
        "the store (password from GEM_NEW_PASSWORD or a prompt)",
    )
    c.add_argument("username")
    c.add_argument("--file", default=None, help="the users file (default: GEM_AUTH_FILE)")
    c.add_argument("--role", default="rater", choices=["rater", "admin"])
    c.add_argument("--display-name", default="")

    c = add("import-campaign", "create a campaign from a JSONL file")
    c.add_argument("file")
    c.add_argument("--name", help="campaign name (default: the file name without extension)")
    c.add_argument("--guidelines", help="Markdown file with the raters' guidelines")
    c.add_argument("--kind", default="rate", choices=["rate", "compare"])
    c.add_argument("--k", type=int, default=2, help="raters per item (default 2)")
    c.add_argument("--assign", action="store_true", help="assign items to all rater accounts now")

    c = add("assign", "assign a campaign's items to rater accounts (tops up; keeps existing work)")
    c.add_argument("campaign")

    c = add("progress", "per-rater progress of a campaign")
    c.add_argument("campaign")

    add("campaigns", "list campaigns")
    c = sub.add_parser(
        "add-user",
        help="add or replace an account in a GEM_AUTH_FILE (CSV username,password_hash,role,display_name; "
        "password from GEM_NEW_PASSWORD or a prompt)",
    )
    c.add_argument("file")
    c.add_argument("username")
    c.add_argument("--role", default="rater", choices=["rater", "admin"])
    c.add_argument("--display-name", default="")
    sub.add_parser(
        "hash-password",
        help="print a scrypt hash for the password_hash column of a GEM_AUTH_FILE "
        "(reads GEM_NEW_PASSWORD or a prompt)",
    )

    c = add("export", "write ratings as DPO/KTO JSONL, CSV or a datasets dataset")
    c.add_argument("--format", required=True, choices=FORMATS)
    c.add_argument("--out", required=True)
    c.add_argument("--metric", default="overall_satisfaction", choices=METRIC_NAMES)
    c.add_argument("--min-margin", type=float, default=1.0, help="smallest mean rating gap that makes a pair")
    c.add_argument("--pairs-from", default="both", choices=PAIR_SOURCES)
    c.add_argument("--campaign", default=None)
    c.add_argument("--no-images", action="store_true", help="do not render ECG images for DPO/KTO rows")
    c.add_argument(
        "--no-signals", action="store_true", help="do not write the ECG signals (.npy) DPO/KTO rows point to"
    )

    c = add("summary", "mean (SD), n, bootstrap CI per model and metric; agreement")
    c.add_argument("--campaign", default=None)
    c.add_argument("--json", action="store_true")
    return p


def _password() -> str:
    if os.environ.get("GEM_NEW_PASSWORD"):
        return os.environ["GEM_NEW_PASSWORD"]
    if not sys.stdin.isatty():  # getpass would read a closed or piped stdin and end in EOFError
        raise GemError(
            "no password given: run this in a terminal to be asked for one, or set GEM_NEW_PASSWORD"
        )
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise GemError("the passwords differ")
    return first


def run(args: argparse.Namespace) -> None:
    from annotations.store import MIN_PASSWORD, Store, add_auth_user, hash_password

    if args.command == "add-user":
        add_auth_user(args.file, args.username, _password(), args.role, args.display_name)
        print(json.dumps({"file": args.file, "username": args.username, "role": args.role}))
        return
    if args.command == "hash-password":
        password = _password()
        if len(password) < MIN_PASSWORD:
            raise GemError(f"password must be at least {MIN_PASSWORD} characters")
        print(hash_password(password))
        return

    with Store(args.db) as store:
        me = store.local_admin()
        if args.command == "create-rater":
            # one account system: sign-in reads the users file, so the account goes there (and into
            # the store at once, as the app does at start)
            users = args.file or get_settings().auth_file
            if not users:
                raise GemError(
                    "accounts that can sign in live in the users file the app reads (GEM_AUTH_FILE): "
                    "set GEM_AUTH_FILE or pass --file users.csv (add-user FILE USERNAME does the same)"
                )
            add_auth_user(users, args.username, _password(), args.role, args.display_name)
            store.sync_auth_file(users)
            r = store.get_rater(args.username)
            print(
                json.dumps(
                    {"username": r.username, "pseudonym": r.pseudonym, "role": r.role, "file": str(users)}
                )
            )
        elif args.command == "import-campaign":
            guide = Path(args.guidelines).read_text(encoding="utf-8") if args.guidelines else ""
            loaded = []

            def show(done: int, total: int) -> None:
                loaded.append(done)
                print(f"\rloading cases {done}/{total}", end="", file=sys.stderr)

            try:
                camp = store.import_campaign(
                    me,
                    args.file,
                    args.name or Path(args.file).stem,
                    guidelines_md=guide,
                    kind=args.kind,
                    k_raters=args.k,
                    progress=show,
                )
            finally:
                if loaded:
                    print(file=sys.stderr)  # end the progress line, so an error gets a line of its own
            added = store.assign(me, camp.id) if args.assign else 0
            print(
                json.dumps(
                    {
                        "campaign": camp.name,
                        "items": camp.n_items,
                        "models": camp.blind_names,
                        "assigned": added,
                    }
                )
            )
        elif args.command == "assign":
            print(json.dumps({"assigned": store.assign(me, args.campaign)}))
        elif args.command == "progress":
            print(json.dumps(store.progress(me, args.campaign), indent=2))
        elif args.command == "campaigns":
            for c in store.campaigns():
                print(f"{c.id}\t{c.name}\t{c.kind}\titems={c.n_items}\tk={c.k_raters}")
        elif args.command == "export":
            res = store.export(
                me,
                args.format,
                args.out,
                metric_name=args.metric,
                min_margin=args.min_margin,
                sources=args.pairs_from,
                campaign=args.campaign,
                images=not args.no_images,
                signals=not args.no_signals,
            )
            for note in res.notes:
                print(f"note: {note}", file=sys.stderr)
            print(
                json.dumps(
                    {"path": str(res.path), "rows": res.rows, "images": res.images, "signals": res.signals}
                )
            )
        elif args.command == "summary":
            from annotations.summary import format_table

            result = store.summary(me, campaign=args.campaign)
            print(json.dumps(result, indent=2) if args.json else format_table(result))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        run(args)
    except GemError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
