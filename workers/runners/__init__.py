"""Job runners for model jobs (sample, expand, score): Django-aware, model-agnostic.

Each runner walks its job's items in chunks. Before a chunk it asks the database which items
already have their results, and does only the rest; a chunk's results are written in one
transaction under unique constraints, so a redelivered or reclaimed job writes nothing twice.
"""
