"""Scripted agents for the fleet tests: real processes that behave like the story's agents.

Each reads GITFLEET_ID, writes ``articles/<id>.md`` (front matter ``ticketId``), commits,
and then does what its mode says. No model, no network: behaviour is exact.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

AGENT = r"""
import os, subprocess, sys, time

def git(*args):
    proc = subprocess.run(["git", *args], capture_output=True, text=True)
    sys.stdout.write(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        print(f"git {' '.join(args)} failed with {proc.returncode}", flush=True)
        sys.exit(10 + min(proc.returncode, 80))

mode = sys.argv[1] if len(sys.argv) > 1 else "push"
ident = os.environ["GITFLEET_ID"]
brief = open(os.environ["GITFLEET_BRIEF"], encoding="utf-8").read()
assert ident in brief, "the brief names the id"
print(f"agent {ident} mode {mode} pid {os.getpid()}", flush=True)
if mode == "hang":
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    with open("child.pid.tmp", "w") as fh:  # renamed whole: a reader never sees it empty
        fh.write(str(child.pid))
    os.replace("child.pid.tmp", "child.pid")
    time.sleep(600)
if mode == "crash":
    raise SystemExit(3)
os.makedirs("articles", exist_ok=True)
with open(f"articles/{ident}.md", "w", encoding="utf-8") as fh:
    fh.write(f"---\nticketId: {ident}\ntitle: Article {ident}\n---\n\nWritten by {ident}.\n")
    if mode == "bad":
        fh.write("BADWORD\n")
git("add", f"articles/{ident}.md")
if mode == "conflict":
    path = "articles/SP-001.md"
    text = open(path, encoding="utf-8").read()
    text = text.replace("title: Article 1\n", f"title: Rewritten by {ident}\n")
    open(path, "w", encoding="utf-8").write(text)
    git("add", path)
git("commit", "-q", "-m", f"Add article {ident}")
if mode == "push":
    git("push", "origin", "HEAD:main")
print("done", flush=True)
"""


def write_agent(folder: Path) -> Path:
    path = folder / "agent.py"
    path.write_text(AGENT)
    return path


def agent_cmd(script: Path, mode: str = "push") -> str:
    """An ``--agent-cmd`` string running the scripted agent in ``mode``."""
    return shlex.join([sys.executable, str(script), mode])


PROBE = r"""
import json, os, sqlite3, sys, subprocess
out_dir, rest = sys.argv[1], sys.argv[2:]
ident = os.environ.get("GITFLEET_ID") or os.environ["GITFLEET_AGENT"]
env = {k: v for k, v in os.environ.items()
       if k.startswith("GITFLEET_") or k in ("PORT", "API_PORT")}
ledger = None
if "LEDGER_DIR" in os.environ:
    ledger = os.path.join(os.environ["LEDGER_DIR"], "ledger.sqlite")
seen = ""
if ledger and os.path.exists(ledger):
    rows = sqlite3.connect(ledger).execute("SELECT json FROM records ORDER BY seq")
    seen = "".join(row[0] + "\n" for row in rows)
head = subprocess.run(["git", "symbolic-ref", "--short", "HEAD"], capture_output=True, text=True)
data = {"argv": rest, "env": env, "cwd": os.getcwd(), "ledger": seen, "head": head.stdout.strip(),
        "files": sorted(os.listdir("."))}
with open(os.path.join(out_dir, ident + ".json"), "w") as fh:
    json.dump(data, fh)
if "--commit-all" in rest:
    with open("work.txt", "w") as fh:
        fh.write(ident + "\n")
    subprocess.run(["git", "add", "-A"], check=True)
    subprocess.run(["git", "commit", "-q", "-m", "work of " + ident], check=True)
"""


def write_probe(folder: Path) -> Path:
    path = folder / "probe.py"
    path.write_text(PROBE)
    return path
