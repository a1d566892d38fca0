"""The touchscreen. The only package that imports Kivy; call kiosk.ui.boot.prepare_kivy first."""
