"""Lab and tests only: where the lab's Alertmanager delivers, on the control host's loopback.

An HTTP server (port 9099) takes webhook and Slack-compatible chat posts (paths /webhook and
/chat) and an SMTP server (port 2525) takes mail; each message is appended as one JSON line,
with the time it arrived, to webhook.jsonl, chat.jsonl or mail.jsonl in the folder given.
"""

from __future__ import annotations

import json
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

FOLDER = Path(sys.argv[1] if len(sys.argv) > 1 else "/var/lib/lab-alert-sink")
LOCK = threading.Lock()


def record(kind: str, message: dict) -> None:
    with LOCK, (FOLDER / f"{kind}.jsonl").open("a") as out:
        out.write(json.dumps({"received": time.time(), **message}) + "\n")


class Hooks(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        kind = self.path.strip("/")
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if kind not in {"webhook", "chat"}:
            self.send_response(404)
        else:
            record(kind, {"body": json.loads(body)})
            self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


class Mail(socketserver.StreamRequestHandler):
    """Just enough SMTP for Alertmanager's client: no TLS and no AUTH offered."""

    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self.reply("220 lab-alert-sink")
        sender, recipients = "", []
        while line := self.rfile.readline():
            verb = line.decode(errors="replace").strip()
            upper = verb.upper()
            if upper.startswith(("EHLO", "HELO")):
                self.reply("250 lab-alert-sink")
            elif upper.startswith("MAIL FROM:"):
                sender, recipients = verb[10:].strip(" <>"), []
                self.reply("250 OK")
            elif upper.startswith("RCPT TO:"):
                recipients.append(verb[8:].strip(" <>"))
                self.reply("250 OK")
            elif upper == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                    data.append(chunk.decode(errors="replace"))
                record("mail", {"from": sender, "to": recipients, "data": "".join(data)})
                self.reply("250 OK")
            elif upper in {"RSET", "NOOP"}:
                self.reply("250 OK")
            elif upper == "QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Not implemented")


def main() -> None:
    FOLDER.mkdir(parents=True, exist_ok=True)
    http = ThreadingHTTPServer(("127.0.0.1", 9099), Hooks)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer(("127.0.0.1", 2525), Mail).serve_forever()


if __name__ == "__main__":
    main()
