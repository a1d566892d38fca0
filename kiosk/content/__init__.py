"""Content: packs, their import, the catalogue of exercises, and what reads their files."""
