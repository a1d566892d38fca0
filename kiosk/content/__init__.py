"""Content: packs, their import, the catalogue of exercises, and finding them.

What the rest of the station uses (the CLI, doctor, services, the screen's backend and the
take-home server) is imported from here. Inside the package:

- manifest.py   pack.toml, the pack format and its checks (faults.py: Fault, PackRefused)
- archive.py    zip safety: what may be extracted, extracted with byte caps
- importer/     the import as named stages: gather, read manifest, check against the
                catalogue, stage files, check contents, decode, match cues, commit
- catalogue.py  every read and write of the catalogue's tables (schema.py creates them,
                models.py holds the types it takes and returns)
- search.py     full-text search (FTS5) and its filters
- lock.py       the content lock (ContentBusy)
- integrity.py  checksums, leftovers after a crash, the doctor's content check
- startup.py    the demo pack on first start
- cues.py       WebVTT cues and read-along
- adding.py     kiosk add (audio and script in, timed) and kiosk cues --set, through the import
- scriptpdf.py  script PDFs (import it by its path: fpdf2 is slow to load)
The MP3 frame walk the checks use is kiosk/audio/mp3scan.py: the decoder needs it too, and
content may use audio, never the reverse.
"""

from kiosk.content.catalogue import Catalogue
from kiosk.content.cues import Cue, VttError, cue_at, format_vtt, parse_vtt, script_text
from kiosk.content.faults import Fault, PackRefused
from kiosk.content.importer import ImportResult, Progress, import_pack
from kiosk.content.integrity import cleanup_leftovers, content_problems
from kiosk.content.lock import ContentBusy, content_lock
from kiosk.content.models import Card, Exercise, ExerciseListing, Variant
from kiosk.content.startup import import_demo_if_empty

__all__ = [
    "Card",
    "Catalogue",
    "ContentBusy",
    "Cue",
    "Exercise",
    "ExerciseListing",
    "Fault",
    "ImportResult",
    "PackRefused",
    "Progress",
    "Variant",
    "VttError",
    "cleanup_leftovers",
    "content_lock",
    "content_problems",
    "cue_at",
    "format_vtt",
    "import_demo_if_empty",
    "import_pack",
    "parse_vtt",
    "script_text",
]
