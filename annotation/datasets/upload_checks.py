"""What an import's upload must be before it is kept, checked alike by the Import page's form
and the API's serializer, so that either refuses it with the reason at once (a job that fails
later says less, later): a file name without hidden characters, ending in .jsonl or .json, a
file that is not empty, has no byte-order mark and, named .jsonl, is not a JSON array. The size
is checked while the request is read (annotation/core/uploads.py)."""

from django.core.files.uploadedfile import UploadedFile

from annotation.core.text_policy import filename_problem
from annotation.datasets.errors import RecordError
from annotation.datasets.reader import BOM, BOM_REFUSED, check_layout_matches_name, record_layout

SUFFIXES = (".jsonl", ".json")


def upload_problem(upload: UploadedFile) -> str | None:
    """Why the upload is refused, or None."""
    name = upload.name or ""
    if problem := filename_problem(name):
        return f"the file name {problem}"
    if not name.lower().endswith(SUFFIXES):
        return (
            f"the file name {name!r} does not end in .jsonl (JSON lines, one record per line) "
            "or .json (a JSON array)"
        )
    upload.seek(0)
    starts_with_bom = upload.read(len(BOM)) == BOM
    upload.seek(0)
    if starts_with_bom:
        return BOM_REFUSED
    try:
        check_layout_matches_name(record_layout(upload), name)
    except RecordError as error:
        return error.message
    finally:
        upload.seek(0)
    return None
