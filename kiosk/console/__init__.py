"""The clinic console: the administrator's web pages on the staff network (server.py)."""
