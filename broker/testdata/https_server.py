#!/usr/bin/env python3
"""A tiny Stripe-like HTTPS (or HTTP) server for tests. Standard library only.

    python3 broker/testdata/https_server.py --cert server.pem --key server.key \
        --port-file /tmp/x/port [--host 127.0.0.1] [--port 0]

Listens on --host:--port (port 0 = an ephemeral one), then writes the port
number to --port-file (atomically: write + rename), so a test waits for the
file and reads it. Without --cert/--key it serves plain HTTP. Certificates
for tests: broker/testdata/make_test_cert.sh. Stops on SIGTERM or SIGINT.

Endpoints (all answers are JSON):

    POST /v1/invoices  -> 200 {"id": "in_test_<hex>", "object": "invoice",
                               "echo": <the request body parsed as JSON, or
                                        {"form": {...}} for a form body, or null>,
                               "authorization_seen": <true when an
                                        Authorization header came with it>}
    GET  /healthz      -> 200 {"ok": true}
    anything else      -> 404 {"error": {"message": "not found"}}

The server never prints or returns header values (Authorization above all)
or bodies: its log lines (stderr, --verbose only) carry method, path and
status.
"""

import argparse
import json
import os
import secrets
import signal
import ssl
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BODY = 16 << 20


class Handler(BaseHTTPRequestHandler):
    server_version = "magic-test-https/1"
    protocol_version = "HTTP/1.1"
    verbose = False

    def log_message(self, fmt, *args):  # method, path and status only
        if self.verbose:
            sys.stderr.write("https_server: %s\n" % (fmt % args))

    def _send(self, status, doc):
        body = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            raise ValueError("bad Content-Length")
        return self.rfile.read(length) if length else b""

    def _echo(self, raw):
        if not raw:
            return None
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype == "application/x-www-form-urlencoded":
            return {"form": dict(urllib.parse.parse_qsl(raw.decode("utf-8", "replace")))}
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def do_GET(self):
        if urllib.parse.urlsplit(self.path).path == "/healthz":
            self._send(200, {"ok": True})
        else:
            self._send(404, {"error": {"message": "not found"}})

    do_HEAD = do_GET

    def do_POST(self):
        try:
            raw = self._read_body()
        except ValueError:
            self._send(400, {"error": {"message": "bad request body"}})
            return
        if urllib.parse.urlsplit(self.path).path != "/v1/invoices":
            self._send(404, {"error": {"message": "not found"}})
            return
        self._send(
            200,
            {
                "id": "in_test_" + secrets.token_hex(8),
                "object": "invoice",
                "echo": self._echo(raw),
                "authorization_seen": bool(self.headers.get("Authorization")),
            },
        )


class Server(ThreadingHTTPServer):
    """TLS handshakes run in each connection's thread, so a client that
    never completes one cannot stall the others."""

    daemon_threads = True

    def __init__(self, address, handler, context, verbose):
        super().__init__(address, handler)
        self.context = context
        self.verbose = verbose

    def finish_request(self, request, client_address):
        if self.context is not None:
            request = self.context.wrap_socket(request, server_side=True)
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        if self.verbose:  # failed handshakes are expected in tests: quiet by default
            super().handle_error(request, client_address)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cert", help="server certificate (PEM); omit for plain HTTP")
    parser.add_argument("--key", help="server private key (PEM)")
    parser.add_argument("--port-file", required=True, help="where to write the port number")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--verbose", action="store_true", help="log method, path, status")
    args = parser.parse_args()
    if bool(args.cert) != bool(args.key):
        parser.error("--cert and --key go together")

    Handler.verbose = args.verbose
    context = None
    if args.cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.cert, args.key)
    server = Server((args.host, args.port), Handler, context, args.verbose)

    def stop(_signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
