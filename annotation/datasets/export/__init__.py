"""Training exports: selection and labelling of graded paths, row formats, files, manifest."""
