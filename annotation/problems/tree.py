"""Identity of step nodes: a step is the same node wherever the same prefix leads to it."""

import hashlib
import unicodedata
import uuid


def node_id(problem_id: int, parent_id: uuid.UUID | None, kind: str, text: str) -> uuid.UUID:
    digest = hashlib.sha256(
        f"{problem_id}\x1f{parent_id.hex if parent_id else ''}\x1f{kind}\x1f{text}".encode()
    ).digest()
    return uuid.UUID(bytes=digest[:16])


def text_digest(text: str) -> str:
    """A problem's identity across imports: sha256 of the text's NFC form, so the same text with
    composed or decomposed accents (é, or e and U+0301) is one problem. The text itself is kept
    as written. See "Unicode normalisation" in docs/frontend.md."""
    return hashlib.sha256(unicodedata.normalize("NFC", text).encode()).hexdigest()
