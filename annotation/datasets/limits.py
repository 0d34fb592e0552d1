"""What the columns an import writes can hold, read from the models, so that validation refuses
a record before the database would (and names its line and field). The ranges are the same on
every database: a file that imports on SQLite imports on PostgreSQL.
"""

from annotation.core.columns import integer_range, max_length
from annotation.grading.models import GradeSource
from annotation.problems.models import Problem, StepNode, Trace, TraceStep

# Steps in one path: a node's depth is its position + 1.
MAX_STEPS = min(integer_range(StepNode, "depth")[1], integer_range(TraceStep, "position")[1] + 1)
# Alternatives at one position (PRM800K's completions), numbered from 0.
MAX_OPTIONS = integer_range(TraceStep, "option")[1] + 1
LEVELS = integer_range(Problem, "level")
TIME_SPENT_MS = (0, integer_range(Trace, "time_spent_ms")[1])  # never negative
PROBLEM_ID_LENGTH = max_length(Problem, "external_id")
SUBJECT_LENGTH = max_length(Problem, "subject")
TRACE_ID_LENGTH = max_length(Trace, "external_id")
SOURCE_NAME_LENGTH = max_length(GradeSource, "name")
