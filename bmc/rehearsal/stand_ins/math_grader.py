"""Stand-in of the authors' eval/math/eval/grader.py for the paper rehearsal: their imports (sympy's LaTeX parser,
their bundled latex2sympy), comparison by the suite's re-implementation."""

from latex2sympy2 import latex2sympy  # noqa: F401 - imported as theirs is
from sympy.parsing.latex import parse_latex  # noqa: F401 - read by the worker's runtime check

from bmc.evaluation.math_released import math_equal


def math_equal_process(param):
    return math_equal(param[-2], param[-1])
