"""An import chunk whose traces carry no grade writes no grade (hypothesis found the chunk
where the importer's exact grade write was handed no row and sent COPY an empty list)."""

import pytest

from annotation.grading.models import Grade
from annotation.grading.services import imported_grades_insert_exactly


@pytest.mark.django_db
@pytest.mark.parametrize("blocks", [[], [b""], [[]]])
def test_a_chunk_without_grades_writes_none(blocks):
    assert imported_grades_insert_exactly(blocks, set()) == 0
    assert not Grade.objects.exists()
