"""A private git server for the tests: the bare repositories under ROOT over
smart HTTPS (git's own `git http-backend`; TLS with CERT and KEY, a
certificate the test made), each request answered 401 unless
it carries Basic credentials whose password is TOKEN (the way GitHub, GitLab
and Gitea take a token). It listens on 127.0.0.1 at a free port, writes the
port to PORT_FILE, and appends one line per request to LOG_FILE: the
method, the path and whether it was authorised (never the credentials).

    python3 git_http_server.py ROOT TOKEN PORT_FILE LOG_FILE CERT KEY
"""

import base64
import http.server
import os
import ssl
import subprocess
import sys

ROOT, TOKEN, PORT_FILE, LOG_FILE, CERT, KEY = sys.argv[1:7]


def authorised(header):
    if not header or not header.startswith("Basic "):
        return False
    try:
        _user, _, password = base64.b64decode(header[6:]).decode().partition(":")
    except ValueError:
        return False
    return password == TOKEN


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.serve()

    def do_POST(self):
        self.serve()

    def serve(self):
        allowed = authorised(self.headers.get("Authorization"))
        with open(LOG_FILE, "a") as log:
            verdict = "authorised" if allowed else "refused"
            log.write(f"{self.command} {self.path} {verdict}\n")
        if not allowed:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="hpm-test"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": ROOT,
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(length),
            "REMOTE_USER": "token",
            "REMOTE_ADDR": self.client_address[0],
        }
        for header, variable in [
            ("Content-Encoding", "HTTP_CONTENT_ENCODING"),
            ("Git-Protocol", "GIT_PROTOCOL"),
        ]:
            if self.headers.get(header):
                env[variable] = self.headers[header]
        out = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True
        ).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        if not payload and b"\n\n" in out:
            head, _, payload = out.partition(b"\n\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
tls.load_cert_chain(CERT, KEY)
server.socket = tls.wrap_socket(server.socket, server_side=True)
with open(PORT_FILE + ".new", "w") as port:
    port.write(str(server.server_address[1]))
os.rename(PORT_FILE + ".new", PORT_FILE)
server.serve_forever()
