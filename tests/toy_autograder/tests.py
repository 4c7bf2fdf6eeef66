"""The toy autograder's grader half: two tests, 60 and 40 points."""
import numpy as np

from tito.grading.contract import GradedTest


def check_add(observed, expected):
    total = np.asarray(observed["sum"])
    return None if np.array_equal(total, expected["sum"]) else f"add gave {total}, expected {expected['sum']}"


def check_greet(observed, expected):
    return None if observed["text"] == expected["text"] else f"greet gave {observed['text']!r}"


TESTS = [GradedTest("add", "Adding arrays", 60, "add", check_add),
         GradedTest("greet", "Greeting", 40, "greet", check_greet)]


def load_expected():
    return {"add": {"sum": np.array([1.0, 2.0, 3.0])}, "greet": {"text": "hello ada"}}
