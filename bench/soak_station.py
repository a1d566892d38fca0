"""`kiosk run` for bench/soak.py, with eyes: the station exactly as `python -m kiosk ... run`
starts it, plus one read-only look at the screen on request.

A person at the station reads the buttons' words and touches them; the bench touches with
xdotool, and needs to know where the words are. Asking the window (SIGUSR1) for every
button on show, its words and its middle, keeps the bench working when a layout changes,
where fixed coordinates would tap the wrong thing. The look runs on the UI thread at the
next frame (Clock), changes nothing, and is written to the file named by SOAK_EYES.

SIGUSR2 writes the Python heap's biggest growth since the previous SIGUSR2 (tracemalloc,
when the process was started with PYTHONTRACEMALLOC) and what Kivy's caches hold: the
figures behind the warm-up analysis in bench/soak.py.
"""

from __future__ import annotations

import faulthandler
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

EYES = Path(os.environ["SOAK_EYES"])
_looks = 0
_heap: Any = None


def _visible(widget: Any) -> bool:
    while widget is not None:
        if getattr(widget, "opacity", 1) <= 0 or getattr(widget, "disabled", False):
            return False
        parent = widget.parent
        if parent is widget:
            break
        widget = parent
    return True


def _look(_dt: float) -> None:
    global _looks
    from kivy.app import App
    from kivy.core.window import Window
    from kivy.uix.behaviors import ButtonBehavior

    app = App.get_running_app()
    buttons = []
    width, height = Window.size

    def walk(widget: Any) -> None:
        for child in widget.children:
            walk(child)
        if isinstance(widget, ButtonBehavior) and widget.width > 0 and widget.height > 0:
            x, y = widget.to_window(*widget.center)
            left, bottom = widget.to_window(widget.x, widget.y)
            right, top = widget.to_window(widget.right, widget.top)
            # Any part on the panel: a person reads a tile whose top shows above the edge.
            if left < width and right > 0 and bottom < height and top > 0 and _visible(widget):
                words = getattr(widget, "text", "") or getattr(widget, "title", "")
                # X counts rows from the top, Kivy from the bottom.
                buttons.append({"text": words, "kind": type(widget).__name__,
                                "x": round(x), "y": round(height - y),
                                "box": [round(left), round(height - top), round(right),
                                        round(height - bottom)]})

    for child in Window.children:  # the station's root and any dialog open over it
        walk(child)
    _looks += 1
    state = {"look": _looks, "screen": app.manager.current if app else "",
             "dialogs": [type(c).__name__ for c in Window.children if c is not app.root],
             "window": [width, height], "buttons": buttons}
    talk = getattr(app, "talk_back", None)
    if talk is not None:  # what talk-back said, for a visit driven by its gestures alone
        state["talk_back"] = {"on": talk.on, "said": list(talk.said), "count": talk.said_count,
                              "focus": talk.focus.label if talk.focus else None}
    player = getattr(getattr(app, "playback", None), "player", None)
    if player is not None:
        state["underruns"] = getattr(player, "underruns", None)
    part = EYES.with_suffix(".part")
    part.write_text(json.dumps(state), encoding="utf-8")
    part.replace(EYES)


def _caches(_dt: float) -> None:
    global _heap
    import gc
    import tracemalloc

    from kivy.cache import Cache

    lines = []
    for category in sorted(Cache._categories):
        objects = Cache._objects.get(category, {})
        limit = Cache._categories[category]
        lines.append(f"cache {category}: {len(objects)} objects (limit {limit['limit']}, "
                     f"timeout {limit['timeout']})")
    lines.append(f"gc objects: {len(gc.get_objects())}")
    if tracemalloc.is_tracing():
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)])
        current, peak = tracemalloc.get_traced_memory()
        lines.append(f"python heap traced: {current / 2**20:.1f} MB (peak {peak / 2**20:.1f} MB)")
        if _heap is not None:
            for stat in snapshot.compare_to(_heap, "lineno")[:25]:
                lines.append(f"  {stat}")
        _heap = snapshot
    with open(EYES.with_suffix(".heap"), "a", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n--\n")


def main() -> None:
    from kivy.clock import Clock

    # The handler only notes the request: Kivy's clock is not safe to call from a signal
    # handler (the handler runs between two bytecodes of the main thread, which may hold the
    # clock's lock at that moment: the station then hangs for good). A look waits for the
    # next tenth of a second instead.
    wanted: set[int] = set()

    def on_signal(signum: int, _frame: Any) -> None:
        wanted.add(signum)

    def serve(_dt: float) -> None:
        while wanted:
            signum = wanted.pop()
            (_look if signum == signal.SIGUSR1 else _caches)(0)

    signal.signal(signal.SIGUSR1, on_signal)
    signal.signal(signal.SIGUSR2, on_signal)
    Clock.schedule_interval(serve, 0.1)
    # A station that stops answering: SIGQUIT writes every thread's stack, from C, without
    # needing the (stuck) main loop.
    faulthandler.register(signal.SIGQUIT, file=open(EYES.with_suffix(".stacks"), "a"),  # noqa: SIM115
                          all_threads=True)


if __name__ == "__main__":
    from kiosk.cli import main as kiosk_main
    from kiosk.ui import boot

    prepare = boot.prepare_kivy

    def prepare_then_watch(settings: Any) -> None:
        prepare(settings)
        main()

    boot.prepare_kivy = prepare_then_watch  # the handlers need Kivy, which kiosk sets up first
    sys.argv[0] = "kiosk"
    kiosk_main()
