"""Writes of the workspace, one module per concern: claims, drafts (what a request may hold),
saves (versioned autosaves and grading submits), versions (the compare-and-swap every
write goes through), records, reviews and gold items. Callers
import from the modules. Paths and grades are written by the problems and grading services."""
