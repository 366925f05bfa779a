#!/usr/bin/env python3
"""An SMTP server that does EHLO, STARTTLS, NOOP and QUIT: enough for TLS and DANE checks (the
DNS lab) and for plaintext probes (the fleet, with no certificate: STARTTLS is not offered).
usage: dnslab-smtp.py ADDR PORT HOSTNAME [CERTCHAIN KEY]"""
import socketserver, ssl, sys

addr, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
context = None
if len(sys.argv) > 5:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(sys.argv[4], sys.argv[5])


class Session(socketserver.StreamRequestHandler):
    def handle(self):
        reader, writer, tls = self.rfile, self.wfile, False
        writer.write(f"220 {name} ESMTP\r\n".encode())
        writer.flush()
        while line := reader.readline(1000):
            verb = line.strip().upper()
            if verb.startswith((b"EHLO", b"HELO")):
                offer = b"" if tls or context is None else b"250-STARTTLS\r\n"
                writer.write(f"250-{name}\r\n".encode() + offer + b"250 8BITMIME\r\n")
            elif verb == b"STARTTLS" and not tls and context is not None:
                writer.write(b"220 2.0.0 Ready to start TLS\r\n")
                writer.flush()
                conn = context.wrap_socket(self.connection, server_side=True)
                reader, writer, tls = conn.makefile("rb"), conn.makefile("wb"), True
                continue
            elif verb in (b"NOOP", b"RSET"):
                writer.write(b"250 2.0.0 Ok\r\n")
            elif verb == b"QUIT":
                writer.write(b"221 2.0.0 Bye\r\n")
                writer.flush()
                return
            else:
                writer.write(b"502 5.5.2 Not implemented\r\n")
            writer.flush()


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    # Hundreds of probes a second arrive together; the default backlog of 5 would drop some.
    request_queue_size = 1024
    daemon_threads = True


Server((addr, port), Session).serve_forever()
