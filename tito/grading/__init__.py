"""Grading a class: submissions run in worker processes; scores are decided here, never there."""
