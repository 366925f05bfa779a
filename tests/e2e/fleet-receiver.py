#!/usr/bin/env python3
"""A webhook receiver for Alertmanager: appends every POST as one JSON line
{"path": ..., "body": <the notification>} to OUT, answers 200. Bodies are bounded (1 MiB).
usage: fleet-receiver.py ADDR PORT OUT"""
import http.server, json, sys, threading

addr, port, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > 1 << 20:
            self.send_response(413)
            self.end_headers()
            return
        try:
            body = json.loads(self.rfile.read(length))
        except ValueError:
            self.send_response(400)
            self.end_headers()
            return
        with lock, open(out, "a") as f:
            f.write(json.dumps({"path": self.path, "body": body}) + "\n")
            f.flush()
        self.send_response(200)
        self.end_headers()

    def do_GET(self):
        # Readiness.
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    # Hundreds of groups notify at once; the default backlog of 5 would drop some.
    request_queue_size = 1024


Server((addr, port), Receiver).serve_forever()
