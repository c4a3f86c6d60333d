"""Stand-in of the authors' eval/math/eval/grader.py for the paper rehearsal (the suite's re-implementation)."""

from bmc.evaluation.math_released import math_equal


def math_equal_process(param):
    return math_equal(param[-2], param[-1])
