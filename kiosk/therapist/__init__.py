"""Therapist mode's own state: the PIN and its lockout (`pin`), the clinic's favourite
exercises (`favourites`). The screens for it live in kiosk/ui/screens (pin, therapist).

`migrations` is here because kiosk.store applies each table owner's set by module name.
"""

from kiosk.therapist.favourites import migrations

__all__ = ["migrations"]
