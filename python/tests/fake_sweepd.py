"""A fake sweepd for the tests: a real Unix socket server speaking the
control protocol's hello and the agent protocol of docs/agents.md, run as
its own process (so an agent's forked child inherits none of its sockets).

    python fake_sweepd.py SCENARIO.json

The scenario (a JSON object):
  socket   path to listen on
  hello    "hello" (default), "busy", "busy_once" (busy to the first
           connection only) or "refused"
  agent    {"sweep": ID} to accept an agent, or {"refuse": MESSAGE}
  runs     the run messages handed out in turn to `next`, each perhaps
           with "then": what to do once the agent says it started:
           "stop" (send a stop), "close" (hang up and exit),
           "signal:TERM" (send a signal), "sigint:PID" (SIGINT to
           PID, the agent's process)
  done     the message of `done` once the runs are used up

It prints "ready" once listening, then one JSON line per event (each
message received, {"event": "eof"} when a connection ends), flushed, so a
test reads what happened from its stdout without sleeping.
"""

import json
import os
import signal
import socket
import sys


def say(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def send(conn, obj):
    conn.sendall((json.dumps(obj) + "\n").encode())


def serve(conn, scenario, runs, first):
    pending = b""
    by_run = {}
    while True:
        data = conn.recv(65536)
        if not data:
            say({"event": "eof"})
            return
        pending += data
        *lines, pending = pending.split(b"\n")
        for line in lines:
            message = json.loads(line)
            say(message)
            op = message.get("op")
            if op == "hello":
                kind = scenario.get("hello", "hello")
                if kind == "busy_once":
                    kind = "busy" if first else "hello"
                if kind == "hello":
                    send(conn, {"type": "hello", "version": 1, "pid": os.getpid()})
                elif kind == "busy":
                    send(conn, {"type": "busy", "message": "sweepd is busy"})
                else:
                    send(conn, {"type": "refused", "message": "not yours"})
            elif op == "agent":
                answer = scenario.get("agent", {})
                if "refuse" in answer:
                    send(conn, {"type": "refused", "message": answer["refuse"]})
                else:
                    send(conn, {"type": "agent", "sweep": answer.get("sweep", "s")})
            elif op == "next":
                if runs:
                    run = dict(runs.pop(0))
                    by_run[run["run"]] = run.pop("then", None)
                    run["type"] = "run"
                    send(conn, run)
                else:
                    send(conn, {"type": "done", "message": scenario.get("done", "sweep s is done")})
            elif op == "started":
                then = by_run.get(message["run"])
                if then == "stop":
                    send(conn, {"type": "stop", "run": message["run"], "reason": "early_terminate"})
                elif then == "close":
                    conn.close()
                    say({"event": "closed"})
                    sys.exit(0)
                elif then and then.startswith("sigint:"):
                    # The user pressing stop in the agent's notebook.
                    os.kill(int(then[7:]), signal.SIGINT)
                elif then and then.startswith("signal:"):
                    send(conn, {"type": "signal", "run": message["run"], "signal": then[7:]})


def main():
    with open(sys.argv[1]) as f:
        scenario = json.load(f)
    runs = list(scenario.get("runs", []))
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(scenario["socket"])
    server.listen(8)
    say("ready")
    first = True
    while True:
        conn, _ = server.accept()
        with conn:
            serve(conn, scenario, runs, first)
        first = False


if __name__ == "__main__":
    main()
