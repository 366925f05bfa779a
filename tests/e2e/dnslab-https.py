#!/usr/bin/env python3
"""Serves a directory over HTTPS, text/plain for .txt (the MTA-STS policy).
usage: dnslab-https.py ADDR PORT ROOT CERTCHAIN KEY"""
import functools, http.server, ssl, sys

addr, port, root, chain, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {".txt": "text/plain"}


server = http.server.ThreadingHTTPServer((addr, port), functools.partial(Handler, directory=root))
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(chain, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
server.serve_forever()
