"""Stand-in of the authors' bundled latex2sympy (eval/math/eval/latex2sympy/latex2sympy2.py) for the paper
rehearsal: the third parser of the suite's re-implementation (latex2sympy2_extended)."""

from bmc.evaluation.math_released import _latex2sympy as latex2sympy  # noqa: F401
