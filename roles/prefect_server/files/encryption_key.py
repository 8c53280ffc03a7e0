"""The key of Prefect's Secret blocks, and the copy of it a Prefect database may hold.

Without PREFECT_SERVER_ENCRYPTION_KEY, a Prefect server makes a Fernet key and stores it in the
database's `configuration` table, so every dump holds the secrets and the key that opens them.
The role prefect_server gives every server the key instead, and uses this script (with the
server's venv, under systemd-run, the settings as one JSON object on stdin) to:

  read    print {"stored": the key the database holds or null, "new": a newly made key}
  forget  check that every block document decrypts with PREFECT_SERVER_ENCRYPTION_KEY, then
          remove the stored key when it is that key; print {"removed": bool, "blocks": n}
  check   only the first half of forget

Exit 2 names the blocks that do not decrypt; exit 3 says that the stored key is another one.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

STORED = "SELECT value->>'fernet_key' FROM configuration WHERE key = 'ENCRYPTION_KEY'"


async def tables(session) -> set[str]:
    import sqlalchemy as sa

    found = await session.execute(
        sa.text(
            "SELECT relname FROM pg_class WHERE relkind = 'r'"
            " AND relname IN ('configuration', 'block_document')"
            " AND relnamespace = 'public'::regnamespace"
        )
    )
    return {row[0] for row in found}


async def run(command: str) -> int:
    import sqlalchemy as sa
    from cryptography.fernet import Fernet, InvalidToken
    from prefect.server.database import provide_database_interface

    db = provide_database_interface()
    async with db.session_context(begin_transaction=True) as session:
        present = await tables(session)
        stored = None
        if "configuration" in present:
            stored = (await session.execute(sa.text(STORED))).scalar()
        if command == "read":
            print(json.dumps({"stored": stored, "new": Fernet.generate_key().decode()}))
            return 0

        key = os.environ["PREFECT_SERVER_ENCRYPTION_KEY"]
        fernet = Fernet(key.encode())
        unreadable, blocks = [], 0
        if "block_document" in present:
            rows = await session.execute(sa.text("SELECT name, data #>> '{}' FROM block_document"))
            for name, data in rows:
                blocks += 1
                try:
                    fernet.decrypt(data.encode())
                except (InvalidToken, AttributeError):
                    unreadable.append(name)
        if unreadable:
            print(
                f"{len(unreadable)} of {blocks} block documents do not decrypt with the key"
                f" given: {', '.join(sorted(unreadable))}",
                file=sys.stderr,
            )
            return 2
        if stored is not None and stored != key:
            print("the database holds another key than the one given", file=sys.stderr)
            return 3
        removed = False
        if command == "forget" and stored is not None:
            await session.execute(sa.text("DELETE FROM configuration WHERE key = 'ENCRYPTION_KEY'"))
            removed = True
        print(json.dumps({"removed": removed, "blocks": blocks}))
        return 0


def main() -> int:
    command = sys.argv[1] if len(sys.argv) == 2 else ""
    if command not in {"read", "forget", "check"}:
        print(__doc__, file=sys.stderr)
        return 64
    # Before Prefect is imported, so that its settings are these.
    for name, value in json.load(sys.stdin).items():
        if name.startswith("PREFECT_"):
            os.environ[name] = str(value)
    return asyncio.run(run(command))


if __name__ == "__main__":
    sys.exit(main())
