// Page glue of the annotator workspace: the step-grading page and the thought-record editor,
// each a module of static/js/workspace/ (grade_page.js, record_page.js) on shared parts:
// page.js (status, errors, read-only), saving.js (autosave, time on the item, path changes,
// submit) and conflict.js (the dialog of a version saved elsewhere).
//
// State lives in one object per page, is saved by autosave.js (versioned, retried, kept in
// localStorage until the server has it) and shown by re-applying it to the markup. Keys are
// declared on the buttons (keys.js); user text is rendered by render.js, never as raw HTML.
import { gradePage } from "./workspace/grade_page.js";
import { root } from "./workspace/page.js";
import { recordPage } from "./workspace/record_page.js";

if (root?.dataset.page === "grade") gradePage();
else if (root?.dataset.page === "record") recordPage();
