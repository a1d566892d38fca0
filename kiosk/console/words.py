"""The console's words, in the station's screen language (`languages.default`).

The console is for the clinic's administrator, a practice manager: plain words, no jargon,
and every page says what to do next.
"""

from __future__ import annotations

EN_GB: dict[str, str] = {
    "console": "Clinic console",
    "nav.health": "Health",
    "nav.exercises": "Exercises",
    "nav.usage": "Usage",
    "nav.links": "Take-home links",
    "nav.settings": "Settings",
    "nav.pin": "Therapist PIN",
    "nav.sign_out": "Sign out",
    "nav.add": "Add",
    "exercises.review": "Review the read-along",
    "exercises.add": "Add an exercise",
    "add.title": "Add an exercise",
    "add.intro": ("Choose the recording and its script. The station finds when each passage "
                  "is spoken, so the screen can highlight it. This can take a few minutes for "
                  "a long recording; the page shows how far it is."),
    "add.files": "The recording and its script",
    "add.audio": "Recording (MP3, M4A, WAV, FLAC or Ogg)",
    "add.audio.hint": "At most {mb} MB.",
    "add.script": "Script (PDF, text or Word .docx)",
    "add.script.hint": "Optional: without one, the screen shows the title instead of a read-along.",
    "add.lang": "Language spoken",
    "add.more": "More: techniques, who sees it, introduction, notes for therapists",
    "add.visibility": "Who sees it",
    "add.submit": "Add the exercise",
    "add.pack_title": "Or add a content pack",
    "add.pack_intro": "A pack is a .zip file from a publisher, holding several exercises.",
    "add.pack": "Pack (.zip)",
    "add.pack_submit": "Add the pack",
    "add.working": "Adding \u201c{title}\u201d…",
    "add.working_pack": "Adding the pack…",
    "add.working_intro": "The station is adding it. This page refreshes by itself.",
    "add.working_hint": "You may use the other pages meanwhile; come back to Add later.",
    "add.pack_done": "The pack \u201c{pack}\u201d (version {version}, {n} exercises) is on the station.",
    "add.no_audio": "Please choose a recording.",
    "add.no_pack": "Please choose a pack (.zip).",
    "add.not_zip": "A pack is a .zip file; the file chosen is not one.",
    "add.too_large": ("The file is larger than {mb} MB, the most this station takes "
                      "(content.max_file_mb in config.toml). Nothing was kept."),
    "add.field_too_long": "One of the words fields is far too long. Nothing was kept.",
    "add.not_multipart": "This was not sent by the Add form. Please try again from the Add page.",
    "add.failed": "The station could not add it (the log says why). Nothing was changed.",
    "review.title": "Read-along: {title}",
    "review.intro": ("Each passage of the script with the moment it starts. Press a time to "
                     "listen from there. If one is wrong, open \u201cCorrect\u201d under it."),
    "review.untimed_intro": ("These passages have no times: the screen shows them in order "
                             "without highlighting. Setting a start here makes the read-along timed."),
    "review.added": "\u201c{title}\u201d is added. Please check the passages below.",
    "review.phone": "For phones: {what}.",
    "review.start": "Starts at",
    "review.passage": "Passage",
    "review.how": "How sure",
    # How sure a passage's start is: by kiosk.content.models.PassageState, and for the
    # aligner's, by how much of the passage it heard.
    "review.untimed": "no time (in order only)",
    "review.heard": "heard ({percent}% of its words)",
    "review.hardly_heard": "only {percent}% of its words heard: please check",
    "review.state.given": "as the pack gives it",
    "review.state.aligned": "timed by the station",
    "review.state.anchored": "timed by the station",
    "review.state.interpolated": "not heard: placed between its neighbours, please check",
    "review.state.untimed": "not timed: placed by its length, please check",
    "review.state.title": "no script: the title stands in for one",
    "review.state.corrected": "corrected by hand",
    "review.correct": "Correct",
    "review.save": "Save this passage",
    "review.saved": "Passage {n} is saved; the screen follows it.",
    "review.back": "Back to the exercises",
    "review.no_passage": "That passage is not in this read-along.",
    "review.bad_time": "Passage {n}: \u201c{value}\u201d is not a time like 1:05.3.",
    "review.after_end": "Passage {n}: {start} is after the end of the recording ({length}).",
    "review.before_previous": "Passage {n}: {start} is not after passage {previous} starts ({before}).",
    "review.after_next": "Passage {n}: {start} is not before the next passage starts ({after}).",
    "review.no_text": "Passage {n}: the words must not be empty.",
    "login.title": "Sign in",
    "login.password": "Password",
    "login.submit": "Sign in",
    "login.wrong": "That password is not right. Please try again.",
    "login.locked": "Too many wrong passwords from this computer. Please wait {minutes} and try again.",
    "login.expired": ("You were signed out after 30 minutes without use, or because the password "
                      "was changed. Please sign in again."),
    "login.signed_out": "You are signed out.",
    "nopassword.title": "Set a password first",
    "nopassword.body": (
        "The console opens only with the administrator's password, and none is set yet. "
        "On the station, open a terminal and type:"
    ),
    "nopassword.then": "Choose a password, type it twice, then reload this page.",
    "health.title": "Health",
    "health.intro": "The station's own checks, as `kiosk doctor` runs them, taken just now.",
    "health.all_ok": "Everything is working.",
    "health.problems": "{n} thing(s) need attention: they are listed first.",
    "health.check": "Check",
    "health.state": "State",
    "health.detail": "What was found",
    "state.ok": "Working",
    "state.warn": "Worth a look",
    "state.FAIL": "Not working",
    "usage.title": "Usage",
    "usage.intro": (
        "What was played and taken home, counted without anything about any person."
    ),
    "usage.days": "Last {days} days",
    "usage.exercise": "Exercise",
    "usage.started": "Plays started",
    "usage.completed": "Plays heard to the end",
    "usage.links": "Take-home codes shown",
    "usage.downloads": "Files downloaded",
    "usage.total": "All exercises",
    "usage.none": "Nothing was played or taken home in these days.",
    "usage.chart": "Plays started per day",
    "usage.csv": "Download as a spreadsheet (CSV)",
    "exercises.title": "Exercises",
    "exercises.intro": (
        "Every exercise on the station. A hidden one is not offered to clients on the screen; "
        "therapists still find it. Nothing is deleted by hiding."
    ),
    "exercises.exercise": "Exercise",
    "exercises.length": "Languages: length, loudness and read-along",
    "exercises.state": "On the screen",
    "exercises.offered": "Offered to clients",
    "exercises.therapist_only": "Therapists only",
    "exercises.is_hidden": "Hidden",
    "exercises.hide": "Hide",
    "exercises.show": "Show again",
    "exercises.hidden": "“{title}” is hidden: clients no longer see it on the screen.",
    "exercises.shown": "“{title}” is offered on the screen again.",
    "exercises.not_found": "That exercise is not on the station.",
    "exercises.minutes": "{n} min",
    "exercises.loudness": "loudness {lufs} LUFS",
    "exercises.not_measured": "loudness not measured",
    # By kiosk.content.models.ReadAlong; "uncertain" passages are worth checking by ear.
    "exercises.read_along.timed": "Read-along: timed",
    "exercises.read_along.uncertain_one": "Read-along: timed, 1 passage uncertain",
    "exercises.read_along.uncertain": "Read-along: timed, {n} passages uncertain",
    "exercises.read_along.untimed": "Read-along: none (script not timed)",
    "exercises.read_along.no-script": "Read-along: none (no script)",
    "exercises.edit": "Edit",
    "exercises.remove": "Remove",
    "exercises.busy": "Another change to the exercises is being made just now (an import, "
                      "perhaps). Nothing was changed: please try again in a minute.",
    "edit.title": "Edit an exercise",
    "edit.intro": "The words shown with the exercise, checked as a content pack's are. The "
                  "audio and the script stay as they are.",
    "edit.language": "In {lang}",
    "edit.falls_back": "Left empty: as in {lang}.",
    "edit.ex_title": "Title",
    "edit.summary": "Summary (on the exercise's tile)",
    "edit.introduction": "Introduction (for the person about to listen)",
    "edit.guidance": "Guidance for therapists",
    "edit.techniques": "Techniques",
    "edit.techniques.hint": "Browse filters, separated by commas: lowercase letters, digits and \u201c-\u201d.",
    "edit.save": "Save",
    "edit.cancel": "Back to the exercises",
    "edit.saved": "\u201c{title}\u201d is saved: the station shows the new words from now on.",
    "remove.title": "Remove an exercise",
    "remove.question": "Remove \u201c{title}\u201d from the station?",
    "remove.local": "Its audio and script are deleted from the station. To have it again, add "
                    "it again with `kiosk add`.",
    "remove.from_pack": "Its audio and script are deleted from the station. It came in the "
                        "content pack \u201c{pack}\u201d, and comes back when that pack is "
                        "imported again. To keep it on the station but off the screen, hide it instead.",
    "remove.confirm": "Remove it",
    "remove.done": "\u201c{title}\u201d is removed from the station.",
    "exercises.none": "There are no exercises on the station yet.",
    "settings.title": "Settings",
    "settings.intro": (
        "What the station says and does, saved into config.toml with its notes kept. Each "
        "setting says when the station starts using it."
    ),
    "settings.live": "Used by the station within a few seconds of saving.",
    "settings.restart": "Used once the station is restarted.",
    "settings.save": "Save",
    "settings.saved": "Saved. Under each setting: when the station starts using it (a restart "
                      "is switching it off and on, or `sudo systemctl restart kiosk`).",
    "settings.unchanged": "Nothing was changed.",
    "settings.refused": "Nothing was saved: please correct what is listed below.",
    "settings.not_written": "The settings file could not be written: {error}",
    "settings.whole_number": "{label}: \u201c{value}\u201d is not a whole number.",
    "settings.too_long": "{label}: at most 2000 characters.",
    "settings.help.title": "\u201cNeed help now?\u201d button",
    "settings.help.title.hint": "The words on the button that is on every client screen.",
    "settings.help.text": "What the help button says",
    "settings.help.text.hint": "Who to speak to, or a local crisis line. The station gives no advice.",
    "settings.take_home.wifi_ssid": "Guest Wi-Fi name",
    "settings.take_home.wifi_ssid.hint": "Shown on the take-home screen, with a code that joins it.",
    "settings.take_home.wifi_password": "Guest Wi-Fi password",
    "settings.take_home.wifi_password.hint": "Leave empty for an open network.",
    "settings.take_home.link_days": "Days a take-home link works",
    "settings.take_home.link_days.hint": "From 1 to 365.",
    "settings.take_home.downloads_per_file": "Downloads per file",
    "settings.take_home.downloads_per_file.hint": "How many times each file of a link may be downloaded (1 to 1000).",
    "settings.session.idle_timeout_seconds": "Seconds before \u201cStill there?\u201d",
    "settings.session.idle_timeout_seconds.hint": "Without a touch and with nothing playing (10 to 3600).",
    "settings.audio.volume_cap": "Loudest volume allowed (%)",
    "settings.audio.volume_cap.hint": (
        "Hearing safety: headphones close to the ear can harm hearing when loud for long. "
        "Raise this only after listening yourself with the station's headphones."
    ),
    "settings.audio.start_volume": "Volume each visit starts at (%)",
    "settings.audio.start_volume.hint": "Never above the loudest allowed.",
    "pin.title": "Therapist PIN",
    "pin.intro_set": "A PIN is set. Therapists type it on the station to open therapist mode. "
                     "To change it, type the new one twice.",
    "pin.intro_unset": "No PIN is set, so therapist mode cannot be opened. Type one twice to set it.",
    "pin.rules": "At least 6 digits. Easily guessed ones (123456, 111111, dates) are refused.",
    "pin.new": "New PIN",
    "pin.again": "The same PIN again",
    "pin.save": "Set the PIN",
    "pin.differ": "The two PINs are not the same.",
    "pin.saved": "The PIN is set. Restart the station for therapists to use it.",
    "links.title": "Take-home links",
    "links.intro": (
        "Links that still work, newest first. Each is shown by its short name, never by the "
        "secret part a phone uses."
    ),
    "links.id": "Link",
    "links.issued": "Given out",
    "links.expires": "Works until",
    "links.items": "Exercises",
    "links.downloads": "Downloads",
    "links.revoke": "Stop this link",
    "links.revoked": "Link {id} no longer works. A phone that opens it is told so.",
    "links.not_found": "Link {id} was not found, or it had already stopped working.",
    "links.none": "No take-home link is working just now.",
    "error.title": "Something went wrong",
    "error.csrf": "This form was too old or came from another page. Please try again.",
    "error.not_found": "There is no such page in the console.",
}

# The console's words read the same in US English so far; the table is here for the day
# they do not.
EN_US: dict[str, str] = {**EN_GB}

TABLES = {"en-GB": EN_GB, "en-US": EN_US}


def words(lang: str) -> dict[str, str]:
    return TABLES.get(lang, EN_GB)
