"""The first use of the frames from two threads at once (a panel's thread and the cell's).

Lazy imports from threads: a thread that imported a module of ``smartdc_nb.frames`` before
its package, while another thread imported the package, deadlocked in Python's import
system, which handed one of them a half-made module. The script below (a fresh process:
nothing imported yet) orders the two threads with an import hook so the collision happens
every time, as it did in ~7 of 10 runs of eight threads.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import sys, threading, time
    url, key_id, key_path = sys.argv[1:4]

    class Hold:
        '''Holds the frames thread inside the frames package's import (after it took the
        package's import lock) until the query thread imports a module of it: up to 3 s.'''
        def find_spec(self, name, path=None, target=None):
            if name == "smartdc_nb.frames.accessor" and threading.current_thread().name == "A":
                entered.set()
                ends = time.monotonic() + 3
                while time.monotonic() < ends and not in_query():
                    time.sleep(0.01)
            return None

    def in_query():
        '''The query thread is running smartdc_nb/frames/query.py's imports.'''
        frame = sys._current_frames().get(getattr(query_thread, "ident", None))
        while frame is not None:
            if frame.f_code.co_filename.endswith("frames/query.py"):
                time.sleep(0.3)  # on to its next import, which waits for the package
                return True
            frame = frame.f_back
        return False

    entered = threading.Event()
    sys.meta_path.insert(0, Hold())
    import smartdc_nb
    dc = smartdc_nb.connect(url=url, account="demo", key_id=key_id, key_path=key_path,
                            name="us-east-1", rate_limit=False, journal=False)
    fleet = smartdc_nb.Fleet({"us-east-1": dc})
    errors = []

    def run(call):
        try:
            call()
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")

    frames_thread = threading.Thread(target=run, args=(lambda: fleet.frames.machines(),),
                                     name="A")
    query_thread = threading.Thread(target=run, name="B",
                                    args=(lambda: fleet.query(state="running"),))
    frames_thread.start()
    entered.wait(10)
    query_thread.start()
    frames_thread.join(30)
    query_thread.join(30)
    print(errors or "ok")
""")


def test_frames_and_query_first_used_from_two_threads_at_once(emu, triton_keys):
    key = triton_keys["rsa"]
    out = subprocess.run([sys.executable, "-c", SCRIPT, emu.urls["us-east-1"], key.md5,
                          str(key.private)], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stdout + out.stderr[-2000:]
