"""Quizzes: items, grading (and the claims it checks), hints, FSRS scheduling, the progress store, learning path, generation."""
