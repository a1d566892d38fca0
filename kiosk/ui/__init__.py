"""The touchscreen. The only package that imports Kivy; call kiosk.ui.boot.prepare_kivy first.

Where things are:
- app.py: KioskApp (lockdown, idle reset, the journey's navigation, deep links) and the
  hooks other parts use: `add_screen(screen)` (a screen with `forget()` is wiped when the
  station resets), the `on_therapist_gesture(screen_name)` event (a long hold in the hidden
  top-left corner of attract and browse), `reset_session()`.
- backend.py: the one seam to the rest of the station (catalogue, take-home links, QR
  matrices); StationBackend is the real one. It runs on the UI worker thread (worker.py),
  which has its own database connection.
- playback.py: the player's events as Kivy properties (PlayerModel).
- strings.py: every word on screen, per language. theme.py: the calm and high-contrast looks.
- screens/ and widgets/: each a .py with its .kv beside it.
"""
