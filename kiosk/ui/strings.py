"""Every word the touchscreen shows, per language.

Screens never hold text of their own: they ask `tr(key, lang)`, so the screen's language
follows the one the visitor chose. en-US is written out in full (not derived from en-GB)
so a translator sees every key in one place; `missing_keys()` keeps the tables in step.
The clinic's own "Need help now?" words come from config.toml, not from here.
"""

from __future__ import annotations

import logging
from typing import Any

from kiosk.words import format_clock, language_name, whole_minutes
from kiosk.words import format_day as format_date

log = logging.getLogger(__name__)

FALLBACK = "en-GB"

EN_GB: dict[str, str] = {
    "language.name": language_name("en-GB"),
    "attract.welcome": "Welcome. Take a moment for yourself.",
    "attract.touch": "Touch the screen to begin",
    "top.back": "Back",
    "top.larger_text": "Larger text",
    "top.normal_text": "Normal text",
    "top.high_contrast": "High contrast",
    "top.calm_colours": "Calm colours",
    "top.help_close": "Close",
    "top.display": "Text and colours",
    "display.text": "Text size",
    "display.text_0": "Normal",
    "display.text_1": "Larger",
    "display.text_2": "Largest",
    "display.colours": "Colours",
    "display.calm": "Calm",
    "display.high_contrast": "High contrast",
    "browse.title": "Choose an exercise",
    "browse.all": "All",
    "browse.search": "Search",
    "browse.found": "{query}  ({n} found)",
    "browse.search_hint": "Touch here to search",
    "browse.searching_for": "Showing results for \u201c{query}\u201d",
    "browse.clear": "Clear search",
    "browse.none": "No exercises match. Try another word, or touch \u201cAll\u201d.",
    "browse.loading": "Loading\u2026",
    "browse.language": "Language",
    "keyboard.space": "Space",
    "keyboard.delete": "Delete",
    "keyboard.done": "Done",
    "duration.minutes": "{n} min",
    "duration.under_minute": "Under 1 min",
    "exercise.length": "Length: about {minutes} minutes",
    "exercise.length_one": "Length: about 1 minute",
    "exercise.listen": "Listen",
    "exercise.take_home": "Take home",
    "exercise.missing": "This exercise is not available just now.",
    "player.play": "Play",
    "player.pause": "Pause",
    "player.back15": "Back 15\u00a0s",
    "player.forward15": "Forward 15\u00a0s",
    "player.elapsed": "{time} played",
    "player.remaining": "{time} left",
    "player.go_to": "Go to {time}? Touch again.",
    "player.volume": "Volume",
    "player.quieter": "Quieter",
    "player.louder": "Louder",
    "player.script": "Script",
    "player.script_hint": "Touch a passage to listen from there.",
    "player.no_cues": "The script is shown below; it does not follow the audio for this exercise.",
    "player.no_script": "There is no script for this exercise.",
    "player.now": "Now",
    "player.ended": "Finished. Take your time.",
    "end.title": "Finished",
    "end.body": "Take your time. When you are ready:",
    "end.take_home": "Take this home",
    "end.again": "Listen again",
    "end.another": "Choose another",
    "end.finished": "I\u2019m finished",
    "end.finished_hint": "\u201cI\u2019m\u00a0finished\u201d clears the screen, so the next person sees nothing of yours.",
    "takehome.title": "Take this exercise home",
    "takehome.consent": (
        "This gives you a QR code for your phone. It opens a private link to this exercise "
        "(\u201c{title}\u201d), where you can listen and save the audio and the script.\n\n"
        "The link works until {date}. Scan it while you are connected to the clinic\u2019s "
        "Wi-Fi.\n\nNothing about you is kept: no name, no phone number, no email."
    ),
    "takehome.agree": "Show the code",
    "takehome.decline": "No, thank you",
    "takehome.preparing": "Preparing your code\u2026",
    "takehome.scan": "Scan with your phone\u2019s camera",
    "takehome.address": "Or type this address on the clinic Wi-Fi:",
    "takehome.valid_until": "Works until {date}",
    "takehome.wifi": "First, join the clinic Wi-Fi",
    "takehome.wifi_name": "Network: {ssid}",
    "takehome.failed": "The code could not be made just now. Please ask at reception.",
    "takehome.done": "Done",
    "takehome.save_first": (
        "The link opens only on the clinic\u2019s Wi-Fi. Save the audio and the script on your "
        "phone before you leave."
    ),
    "idle.title": "Still there?",
    "idle.body": "The screen will clear in {n} seconds, so the next person sees nothing of yours.",
    "idle.here": "I\u2019m here",
    "idle.rest": (
        "Take your time. If you are still here, touch \u201cI\u2019m\u00a0here\u201d. If not, the "
        "screen clears in {n} seconds, so the next person sees nothing of yours."
    ),
    "banner.audio_unavailable": "Sound is not available just now. Please check the headphones or ask at reception.",
    "banner.file_missing": "This exercise\u2019s audio is missing. Please choose another, or ask at reception.",
    "banner.file_damaged": "This exercise\u2019s audio is damaged and cannot be played. Please choose another, or ask at reception.",
    "banner.error": "Something went wrong. Please try again, or ask at reception.",
    "banner.dismiss": "Close",
    "therapist.not_set_up": "Therapist mode is not set up on this station. Set a PIN with “kiosk set-pin”.",
    "pin.title": "Therapist PIN",
    "pin.prompt": "Type the therapist PIN.",
    "pin.checking": "Checking…",
    "pin.wrong": "That PIN is not right. Please try again.",
    "pin.locked": "Too many wrong PINs. The pad opens again in {time}.",
    "pin.delete": "Delete",
    "pin.ok": "OK",
    "pin.cancel": "Cancel",
    "therapist.title": "Therapist mode",
    "therapist.lock": "Lock",
    "therapist.leave": "Leave the station",
    "therapist.tab_exercises": "Exercises",
    "therapist.tab_bundle": "Bundle",
    "therapist.tab_links": "Live links",
    "therapist.tab_usage": "Usage",
    "therapist.search_hint": "Touch here to search every exercise",
    "therapist.search": "Search",
    "therapist.only": "Therapist only",
    "therapist.hidden": "Hidden",
    "therapist.start": "Start",
    "therapist.favourite": "Favourite",
    "therapist.select": "Select",
    "therapist.none": "No exercises match.",
    "therapist.bundle_count": "{n} selected for a bundle",
    "therapist.bundle_empty": "Select exercises on the Exercises tab; they come together here in one link.",
    "therapist.expiry": "The link works for",
    "therapist.days_one": "1 day",
    "therapist.days": "{n} days",
    "therapist.days_default": "Default ({n} days)",
    "therapist.show_qr": "Show QR",
    "therapist.new_bundle": "New bundle",
    "therapist.preparing": "Preparing the code…",
    "therapist.failed": "The code could not be made. Please try again.",
    "therapist.valid_until": "Works until {date}",
    "therapist.links_none": "No take-home links are live.",
    "therapist.link_until": "until {date}",
    "therapist.link_downloads": "{n} downloads",
    "therapist.revoke": "Revoke",
    "therapist.refresh": "Refresh",
    "therapist.usage_exercise": "Exercise",
    "therapist.usage_days": "Last {n} days",
    "therapist.usage_started": "Plays started",
    "therapist.usage_completed": "Plays completed",
    "therapist.usage_links": "Links issued",
    "therapist.usage_downloads": "Downloads",
    "therapist.language": "Play in",
    "therapist.usage_none": "Nothing has been used yet.",
    "player.presentation": "Presentation",
    "player.presentation_off": "Normal view",
    "leave.title": "Leave the station?",
    "leave.body": "The station closes and the computer’s desktop shows. Clients cannot use the station until it is started again.",
    "leave.confirm": "Leave the station",
    "leave.cancel": "Stay",
    "technique.self-compassion": "Self-compassion",
    "technique.imagery": "Imagery",
    "technique.breathing": "Breathing",
    "technique.grounding": "Grounding",
    "technique.mindfulness": "Mindfulness",
    "technique.relaxation": "Relaxation",
    "technique.body-scan": "Body scan",
    "technique.soothing": "Soothing",
    "technique.compassion": "Compassion",
    "technique.sleep": "Sleep",
    "technique.soothing-rhythm": "Soothing rhythm",
    # Therapist mode that never leaks (issue 17 item 8).
    "therapist.chip": "Therapist mode \u2013 Lock",
    "therapist.strip_hint": "Back leads to the panel until you hand over.",
    "therapist.hand_over": "Hand to client",
    "therapist.link_issued": "Issued {when}",
    "therapist.today_at": "today at {time}",
    "therapist.day_at": "{date} at {time}",
    "therapist.revoking": "Stops working in {n} s",
    "therapist.undo": "Undo",
    # Talk-back: what the station says in the headphones (kiosk/ui/talkback.py). Screens:
    "talk.attract": "Welcome screen. {welcome} {touch}.",
    "talk.browse": "{title}. {n} exercises.",
    "talk.browse_one": "{title}. 1 exercise.",
    "talk.browse_none": "{title}. No exercises match.",
    "talk.exercise": "Exercise: {title}. {length}. {summary}",
    "talk.player": "Player: {title}. {state}.",
    "talk.playing": "Playing",
    "talk.paused": "Paused",
    "talk.ended": "Finished",
    "talk.take_home": "{title}. {consent}",
    # ... and controls ("Listen, button"):
    "talk.button": "{label}, button",
    "talk.toggle_on": "{label}, on",
    "talk.toggle_off": "{label}, off",
    "talk.tile": "{title}, {length}, exercise",
    "talk.about_minutes": "about {n} minutes",
    "talk.about_minute": "about 1 minute",
    "talk.seek_bar": "Seek bar, {at} minutes of {of}",
    "talk.volume_button": "{label}, button. Volume {n} percent",
    "talk.key": "{label}",
    "talk.dimmed": "{label}, dimmed",
    "talk.passage": "{text}",
    "talk.passage_now": "Being read now: {text}",
    "talk.player_passage": "Player: {title}. {state}. Passage {n} of {of}.",
    "talk.take_home_code": ("{title}. The code is on the screen, for your phone's camera. "
                            "If you cannot scan it, ask at reception, or type this address "
                            "into your phone's browser, on the clinic's guest Wi-Fi: {address}. "
                            "Again: {address}. It works until {date}."),
    "talk.take_home_failed": "{message}",
    # ... and talk-back itself: offered, turned on and off, its own controls.
    "talk.offer": ("To hear what is on this screen, touch and hold anywhere on the screen "
                   "for three seconds."),
    "talk.on": ("Talk-back is on. Touch the screen to hear what is there. Double tap anywhere "
                "to choose it. Swipe right or left to move from one thing to the next. "
                "Talk-back's own controls are after the last thing on each screen."),
    "talk.off": "Talk-back is off.",
    "talk.turn_off": "Turn talk-back off, button",
    "talk.faster": "Speak faster, button",
    "talk.slower": "Speak slower, button",
    "talk.rate_now": "Speaking at {n} words a minute.",
    "talk.end": "End of screen. {label}",
    "talk.nothing": "Nothing to choose here. {summary}",
    "talk.dot": "dot",
    "talk.colon": "colon",
    "talk.slash": "slash",
}

EN_US: dict[str, str] = {
    **EN_GB,
    "language.name": language_name("en-US"),
    "top.calm_colours": "Calm colors",
    "top.display": "Text and colors",
    "display.colours": "Colors",
    "browse.searching_for": "Showing results for \u201c{query}\u201d",
    "takehome.consent": (
        "This gives you a QR code for your phone. It opens a private link to this exercise "
        "(\u201c{title}\u201d), where you can listen and save the audio and the script.\n\n"
        "The link works through {date}. Scan it while you are connected to the clinic\u2019s "
        "Wi-Fi.\n\nNothing about you is kept: no name, no phone number, no email."
    ),
    "takehome.valid_until": "Works through {date}",
    "idle.body": "The screen will clear in {n} seconds, so the next person sees nothing of yours.",
    "banner.audio_unavailable": "Sound is not available right now. Please check the headphones or ask at the front desk.",
    "banner.file_missing": "This exercise\u2019s audio is missing. Please choose another, or ask at the front desk.",
    "banner.file_damaged": "This exercise\u2019s audio is damaged and cannot be played. Please choose another, or ask at the front desk.",
    "banner.error": "Something went wrong. Please try again, or ask at the front desk.",
    "takehome.failed": "The code could not be made right now. Please ask at the front desk.",
    "exercise.missing": "This exercise is not available right now.",
    "therapist.favourite": "Favorite",
    "therapist.valid_until": "Works through {date}",
    "therapist.link_until": "through {date}",
    "talk.take_home_code": ("{title}. The code is on the screen, for your phone's camera. "
                            "If you cannot scan it, ask at the front desk, or type this address "
                            "into your phone's browser, on the clinic's guest Wi-Fi: {address}. "
                            "Again: {address}. It works through {date}."),
}

TABLES: dict[str, dict[str, str]] = {"en-GB": EN_GB, "en-US": EN_US}


__all__ = ["format_clock", "format_date", "format_minutes", "length_words", "missing_keys",
           "spoken_length", "table", "tr"]


def table(lang: str) -> dict[str, str]:
    return TABLES.get(lang) or TABLES[FALLBACK]


def tr(key: str, lang: str, **values: Any) -> str:
    text = table(lang).get(key)
    if text is None:
        text = TABLES[FALLBACK].get(key)
    if text is None:
        if key.startswith("technique."):
            # A pack may bring a technique we have no words for: show its slug readably.
            return key.removeprefix("technique.").replace("-", " ").capitalize()
        log.warning("no words for %r", key)
        return key
    return text.format(**values) if values else text


def format_minutes(seconds: float, lang: str) -> str:
    if seconds < 60:
        return tr("duration.under_minute", lang)
    return tr("duration.minutes", lang, n=whole_minutes(seconds))


def length_words(seconds: float, lang: str) -> str:
    minutes = whole_minutes(seconds)
    if minutes == 1:
        return tr("exercise.length_one", lang)
    return tr("exercise.length", lang, minutes=minutes)


def spoken_length(seconds: float, lang: str) -> str:
    """A length as talk-back says it: "about 7 minutes"."""
    minutes = whole_minutes(seconds)
    if minutes == 1:
        return tr("talk.about_minute", lang)
    return tr("talk.about_minutes", lang, n=minutes)


def missing_keys() -> dict[str, set[str]]:
    """Keys some language lacks, per language (empty when the tables are in step)."""
    every = set().union(*(set(t) for t in TABLES.values()))
    return {lang: every - set(t) for lang, t in TABLES.items() if every - set(t)}
