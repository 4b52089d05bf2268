"""User-space instructions `agentgate serve` executes per request, counted by callgrind.

Wall-clock CPU time on a shared machine moves by 10-15% between runs, which hides most
single changes; an instruction count repeats to within 0.1%. This runs the release binary
under valgrind's callgrind against a local mock upstream (OpenAI chat completions, 16
tokens, streamed or whole as asked), warms it with 30 requests (caches, compiled
statements, 40 messages of history for the runs family), then counts the instructions of the next N requests of each family,
one keep-alive connection. With a baseline binary it measures both, alternately, and
prints the ratio.

Kernel time (loopback TCP, context switches) is not counted, and under callgrind a turn
takes tens of milliseconds, so the embedded store's 5 ms write group holds about one
operation instead of several: commits weigh more here than in a real run.

usage: instructions.py BINARY [BASELINE_BINARY] [--requests N]
"""

import argparse
import glob
import http.client
import http.server
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

TOKEN = "pubkey_bench_7Hq2Lx9Vw4Rz"
KINDS = ["openai", "stream", "runs", "widget"]
NAMES = {
    "openai": "OpenAI chat completions, not streamed",
    "stream": "OpenAI chat completions, streamed",
    "runs": "runs native SSE",
    "widget": "widget v2",
}
UNCAPPED = [
    "AGENTGATE_RATE_PER_MINUTE", "AGENTGATE_DAILY_LIMIT", "AGENTGATE_WIDGET_VISITOR_PER_HOUR",
    "AGENTGATE_WIDGET_IP_PER_HOUR", "AGENTGATE_OWNER_DAILY_LIMIT", "AGENTGATE_IP_PER_MINUTE",
    "AGENTGATE_ANONYMOUS_PER_MINUTE", "AGENTGATE_DAILY_TOKEN_BUDGET",
    "AGENTGATE_OWNER_MONTHLY_MESSAGES",
]


def chunk(delta, finish=None, usage=None):
    body = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1,
            "model": "bench", "choices": [] if usage else
            [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage:
        body["usage"] = usage
    return "data: " + json.dumps(body) + "\n\n"


STREAM = ("".join(chunk({"content": f"tok{i} "}) for i in range(16))
          + chunk({}, "stop")
          + chunk({}, usage={"prompt_tokens": 5, "completion_tokens": 16, "total_tokens": 21})
          + "data: [DONE]\n\n").encode()
WHOLE = json.dumps({
    "id": "chatcmpl-bench", "object": "chat.completion", "created": 1, "model": "bench",
    "choices": [{"index": 0, "finish_reason": "stop",
                 "message": {"role": "assistant", "content": "".join(f"tok{i} " for i in range(16))}}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 16, "total_tokens": 21}}).encode()


class Upstream(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["content-length"])))
        # The same reply as a stream of chunks or, asked for whole, as one chat.completion.
        body, kind = ((STREAM, "text/event-stream") if request.get("stream")
                      else (WHOLE, "application/json"))
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Gateway:
    """One `agentgate serve` under callgrind, its instrumentation off until `count` (unless
    `callgrind` options say otherwise)."""

    def __init__(self, binary, upstream_port, out_dir, callgrind=("--instr-atstart=no",)):
        self.data = tempfile.mkdtemp(prefix="agentgate-instr-")
        env = dict(os.environ, AGENTGATE_DATA_DIR=self.data, AGENTGATE_STORE="sqlite",
                   OPENAI_BASE_URL=f"http://127.0.0.1:{upstream_port}/v1",
                   OPENAI_API_KEY="sk-bench")
        env.pop("RUST_LOG", None)
        env.pop("AGENTGATE_JWT_SECRET", None)
        env.update({v: "1000000000" for v in UNCAPPED})
        token = subprocess.run([binary, "dev-token", "--sub", "bench-owner"], env=env,
                               capture_output=True, text=True, check=True)
        self.jwt = token.stdout.strip().splitlines()[-1]
        self.out = os.path.join(out_dir, "callgrind.out")
        self.proc = subprocess.Popen(
            ["valgrind", "--tool=callgrind", *callgrind, f"--callgrind-out-file={self.out}",
             binary, "serve", "--addr", "127.0.0.1:0"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            self.connect()
        except BaseException:
            self.stop()
            raise

    def connect(self):
        line = self.proc.stdout.readline()
        address = next((w for w in line.split() if w.startswith("http://")), None)
        if address is None:
            sys.exit(f"the server did not start: {line!r}")
        # The log lines keep coming; drain them.
        threading.Thread(target=lambda: [None for _ in self.proc.stdout], daemon=True).start()
        host, port = address[len("http://"):].split(":")
        self.conn = http.client.HTTPConnection(host, int(port))
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.token_assistant = self.assistant("public_token")
        self.open_assistant = self.assistant("public_no_auth")

    def call(self, path, body, headers):
        self.conn.request("POST", path, json.dumps(body),
                          {"content-type": "application/json", **headers})
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status >= 300:
            sys.exit(f"{path} answered {resp.status}: {data[:300]!r}")
        return data

    def assistant(self, mode):
        configurable = {"type==agent/model": "openai:gpt-4o-mini",
                        "type==agent/system_message": "You are terse.",
                        "type==agent/access_mode": mode}
        if mode == "public_token":
            configurable["type==agent/public_token"] = TOKEN
        body = {"name": "bench", "config": {"configurable": configurable}}
        created = self.call("/assistants", body, {"authorization": f"Bearer {self.jwt}"})
        return json.loads(created)["assistant_id"]

    def request(self, kind):
        hi = [{"role": "user", "content": "hi"}]
        if kind in ("openai", "stream"):
            self.call("/public/openai/v1/chat/completions",
                      {"model": self.token_assistant, "messages": hi,
                       "stream": kind == "stream", "user": "bench-0"},
                      {"authorization": f"Bearer {TOKEN}"})
        elif kind == "runs":
            self.call("/public/runs/stream",
                      {"assistant_id": self.token_assistant, "thread_id": "bench-thread-0",
                       "input": [{"role": "human", "content": "hi"}]},
                      {"x-public-bot-token": TOKEN})
        else:
            self.call("/v1/public/chat",
                      {"botPublicId": self.open_assistant, "visitorId": "visitor-0",
                       "conversationId": None, "message": "hi"},
                      {"x-widget-version": "2"})

    def count(self, kind, n):
        """Instructions per request over `n` requests of `kind`, after 30 unmeasured."""
        for _ in range(30):
            self.request(kind)
        time.sleep(0.3)
        self.control("-i", "on")
        for _ in range(n):
            self.request(kind)
        # The writes after the last byte, the group commit and the log flush.
        time.sleep(0.5)
        self.control("-i", "off")
        self.control("-d")
        time.sleep(0.5)
        total = 0
        for path in glob.glob(self.out + "*"):
            with open(path, errors="replace") as f:
                for line in f:
                    if line.startswith("totals:"):
                        total += int(line.split()[1])
        if total == 0:
            sys.exit("callgrind recorded nothing")
        return total / n

    def control(self, *args):
        subprocess.run(["callgrind_control", *args, str(self.proc.pid)],
                       capture_output=True, check=True)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait()
        shutil.rmtree(self.data, ignore_errors=True)


def measure(binary, kind, n, upstream_port):
    """Instructions per request of `kind`; the server is stopped however the count ends."""
    with tempfile.TemporaryDirectory() as out:
        gateway = Gateway(binary, upstream_port, out)
        try:
            return gateway.count(kind, n)
        finally:
            gateway.stop()


def main():
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("binary")
    args.add_argument("baseline", nargs="?")
    args.add_argument("--requests", type=int, default=200)
    opts = args.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        sys.exit("needs valgrind (Debian: apt-get install valgrind)")
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = upstream.server_address[1]
    rows, report = [], {}
    for kind in KINDS:
        now = measure(opts.binary, kind, opts.requests, port)
        base = measure(opts.baseline, kind, opts.requests, port) if opts.baseline else None
        report[kind] = {"instructions": round(now), "baseline": base and round(base)}
        ratio = f" | {base:,.0f} | {now / base:.3f}" if base else ""
        rows.append(f"| {NAMES[kind]} | {now:,.0f}{ratio} |")
        print(rows[-1], file=sys.stderr)
    head = "| request | instructions per request |"
    rule = "|---|---|"
    if opts.baseline:
        head = "| request | instructions per request | baseline | ratio |"
        rule = "|---|---|---|---|"
    print(f"\nUser-space instructions per request, {opts.requests} requests each, callgrind\n")
    print("\n".join([head, rule, *rows]))
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "target",
                       "bench", "instructions.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "w") as f:
        json.dump({"requests": opts.requests, "families": report}, f, indent=2)
    print(f"\nwrote {os.path.normpath(out)}")


if __name__ == "__main__":
    main()
