"""Writes the list of functions `agentgate serve` runs, hottest first, for the linker.

The release binary's code is ~16 MiB, of which a local turn runs ~2.5 MiB spread across all
of it; the kernel maps code in blocks around each page a process touches, so most of the
16 MiB ended up resident. `local/build.rs` hands this list to the linker
(`--symbol-ordering-file`), which puts these functions first and next to each other.

The binary (release build, symbols kept) runs under valgrind's callgrind from its start: it
starts, an owner creates two assistants, then 40 requests of each public family of the
instruction bench (OpenAI non-streamed and streamed, runs native SSE, widget v2). Every
function of the binary that ran is listed, by the instructions it executed itself
(descending), under a header naming the toolchain and target the names belong to: symbol
names carry hashes of the compiler version and of each crate's build, so a list only
matches the toolchain it was made with (build.rs ignores it under another).

usage: hot_functions.py BINARY OUT
"""

import os
import re
import subprocess
import sys
import tempfile
import threading
import http.server
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import instructions  # noqa: E402

REQUESTS = 40
# `fn=(id) name` / `cfn=(id) name` name a function the first time; `ob=`/`cob=` its object.
NAMED = re.compile(r"^(ob|cob|fn|cfn)=\((\d+)\)(?: (.*))?$")
# A cost line: position then instruction count (subposition compression allowed).
COST = re.compile(r"^[+\-*]?\d*\s+(\d+)$")


def self_costs(path, binary_name):
    """Instructions each function of `binary_name` executed itself, by symbol name."""
    objects, functions, costs = {}, {}, {}
    current_ob, current_fn, call_cost_next = None, None, False
    with open(path, errors="replace") as f:
        for raw in f:
            line = raw.rstrip("\n")
            named = NAMED.match(line)
            if named:
                kind, ident, name = named.groups()
                table = objects if kind in ("ob", "cob") else functions
                if name:
                    table[ident] = name
                if kind == "ob":
                    current_ob = objects.get(ident)
                elif kind == "fn":
                    current_fn = functions.get(ident)
                    if current_ob and os.path.basename(current_ob) == binary_name:
                        costs.setdefault(current_fn, 0)
                continue
            if line.startswith("calls="):
                # The next cost line is the callee's inclusive cost, not this function's.
                call_cost_next = True
                continue
            cost = COST.match(line)
            if cost and current_fn in costs:
                if call_cost_next:
                    call_cost_next = False
                else:
                    costs[current_fn] += int(cost.group(1))
            elif cost:
                call_cost_next = False
    return costs


def defined_functions(binary):
    """The function symbols the binary defines (what the linker can place)."""
    out = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True,
                         check=True).stdout
    return {parts[2] for parts in (l.split() for l in out.splitlines())
            if len(parts) == 3 and parts[1] in "tTwW"}


def run_workload(binary, out):
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), instructions.Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory() as folder:
        gateway = instructions.Gateway(binary, upstream.server_address[1], folder,
                                       callgrind=("--demangle=no",))
        try:
            for kind in instructions.KINDS:
                for _ in range(REQUESTS):
                    gateway.request(kind)
            # The writes after the last reply and the group commit.
            time.sleep(0.5)
        finally:
            gateway.stop()
        os.replace(gateway.out, out)


def toolchain():
    version = subprocess.run(["rustc", "-vV"], capture_output=True, text=True,
                             check=True).stdout
    fields = dict(l.split(": ", 1) for l in version.splitlines() if ": " in l)
    return fields["release"], fields["host"]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.splitlines()[-1])
    binary, out = sys.argv[1], sys.argv[2]
    defined = defined_functions(binary)
    if not defined:
        sys.exit(f"{binary} has no symbols: build it with `-C strip=none`")
    with tempfile.TemporaryDirectory() as work:
        profile = os.path.join(work, "callgrind.out")
        run_workload(binary, profile)
        costs = self_costs(profile, os.path.basename(binary))
    ran = {}
    for name, cost in costs.items():
        # Callgrind marks recursion levels with 'N; the symbol is the same.
        name = re.sub(r"'\d+$", "", name)
        if name in defined:
            ran[name] = ran.get(name, 0) + cost
    if len(ran) < 500:
        sys.exit(f"only {len(ran)} functions of {binary} ran: the workload did not run")
    release, host = toolchain()
    names = sorted(ran, key=lambda n: (-ran[n], n))
    with open(out, "w") as f:
        f.write("# Functions `agentgate serve` runs in a turn, hottest first; local/build.rs\n"
                "# has the linker put them first. Remade by scripts/hot-functions.sh.\n"
                f"# rustc {release} {host}\n")
        f.write("\n".join(names) + "\n")
    print(f"{len(names)} functions ({sum(ran.values()):,} instructions) written to {out}")


if __name__ == "__main__":
    main()
