"""Reads of the tree pages, one module per concern: the methods that make long thoughts
(`methods`), rounds and their problems (`rounds`), one tree and its nodes (`tree`), model
outputs (`outputs`), long thoughts (`thoughts`), keywords (`keywords`) and statistics
(`stats`)."""
