"""Dashboard panels (bqplot + ipywidgets) and the :class:`Dashboard` that composes them.

These components live *inside* the library (``f1live.widgets``) rather than in a
top-level ``widgets`` package: a generic top-level name would shadow or be shadowed by
other projects on ``sys.path`` (the served Voila notebook sits in the repository's
``widgets/`` folder, which is not a Python package).  Each panel is a small class that
builds its widgets once and has ``update(view)``; the :class:`Refresher` calls them at
``Settings.ui_refresh_ms``; panels never touch Kafka — they read the pipeline's snapshot.
"""

from __future__ import annotations

from f1live.widgets.view import View, to_view

__all__ = ["View", "to_view", "Dashboard", "Refresher"]


def __getattr__(name: str):  # lazy: importing the view helpers must not import bqplot
    if name == "Dashboard":
        from f1live.widgets.dashboard import Dashboard

        return Dashboard
    if name == "Refresher":
        from f1live.widgets.refresher import Refresher

        return Refresher
    raise AttributeError(name)
