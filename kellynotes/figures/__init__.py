"""Plotting helpers for the chapters: each draws onto axes or figures it is given
(they never touch pyplot state or the backend). Import the submodule you need,
e.g. ``from kellynotes.figures import kelly``."""
