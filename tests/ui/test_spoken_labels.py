"""Talk-back (issue 15): every control a client can touch has spoken words, in each screen
language, and every client screen can say what is on it. Walks the same screens as the
layout test (visit_every_screen), reading the real widget tree."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ui import layout
from tests.ui.driver import StationDriver
from tests.ui.test_layouts import visit_every_screen

pytestmark = pytest.mark.ui

CLIENT_SCREENS = ("attract", "browse", "exercise", "player", "take_home")


def touchable(widget: Any) -> bool:
    from kivy.uix.behaviors import ButtonBehavior
    from kivy.uix.slider import Slider

    return isinstance(widget, ButtonBehavior | Slider) and not getattr(widget, "disabled", False)


class SpokenCollector:
    """Duck-types the layout test's Collector: at each stop, what talk-back would say."""

    def __init__(self, s: StationDriver, lang: str):
        self.s, self.lang, self.found = s, lang, {}
        self.labels: dict[str, list[str]] = {}
        self.summaries: dict[str, str] = {}

    def check(self, name: str, primary: Any = None) -> None:
        from kiosk.ui.talkback import spoken_label

        s = self.s
        s.pump(0.15)
        said = []
        for seen in layout.visible(s.window):
            if not touchable(seen.widget):
                continue
            label = spoken_label(seen.widget, self.lang)
            if not label:
                self.found.setdefault(name, []).append(f"no spoken label: {layout.describe(seen.widget)}")
            said.append(label)
        self.labels[name] = said
        screen = s.app.manager.current_screen
        if screen.name in CLIENT_SCREENS and screen.name not in self.summaries:
            self.summaries[screen.name] = screen.spoken_summary()

    def exit_not_under(self, *_args: Any) -> None:
        pass

    def report(self) -> str:
        return "\n".join(f"{screen}:\n    " + "\n    ".join(lines) for screen, lines in self.found.items())


@pytest.mark.parametrize("lang", ["en-GB", "en-US"])
def test_every_touchable_control_has_a_spoken_label(launch, lang):
    s = launch()
    s.app.set_language(lang)
    s.pump(0.1)
    c = SpokenCollector(s, lang)
    visit_every_screen(s, c)
    assert not c.found, c.report()
    assert set(c.summaries) == set(CLIENT_SCREENS)
    assert all(c.summaries.values()), c.summaries
    # Words as the issue gives them, in the screen's language.
    assert "Listen, button" in c.labels["exercise"]
    assert any(label.startswith("Seek bar, 3 minutes of ") for label in c.labels["player"]), c.labels["player"]
    assert any(label.endswith(", exercise") and "minute" in label for label in c.labels["browse"])
    assert c.summaries["browse"] == "Choose an exercise. 5 exercises."
    favourite = "Favorite" if lang == "en-US" else "Favourite"
    assert any(label in (f"{favourite}, on", f"{favourite}, off") for label in c.labels["therapist"]), \
        c.labels["therapist"]
    colours = "Text and colors" if lang == "en-US" else "Text and colours"
    assert f"{colours}, button" in c.labels["attract"] + c.labels["browse"]
