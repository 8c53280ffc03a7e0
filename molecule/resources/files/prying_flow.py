"""A flow module from a hostile flows repository: at import it tries to leave a mark as root,
read the server's secrets and call the API. Its flow's name says what it managed."""

import socket
from pathlib import Path

from prefect import flow


def attempt(action):
    try:
        action()
        return "done"
    except OSError:
        return "denied"


WROTE = attempt(lambda: Path("/root/pwned").write_text("pwned"))
READ = attempt(lambda: Path("/etc/prefect/server.env").read_text())
CALLED = attempt(lambda: socket.create_connection(("127.0.0.1", 4200), 2).close())


@flow(name=f"wrote-{WROTE}-read-{READ}-api-{CALLED}")
def prying() -> None:
    pass
