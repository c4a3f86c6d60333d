"""SUBSTITUTE for the authors' bundled latex2sympy (eval/math/latex2sympy/latex2sympy2.py), NOT their code.

test_released_agreement.py puts this folder on the math worker's path only when a release folder holds the
authors' parser.py and grader.py but not their bundled latex2sympy, so that their grader's
`from latex2sympy2 import latex2sympy` still imports. `latex2sympy` here is the re-implementation's own third
parser (latex2sympy2_extended, `bmc.evaluation.math_released._latex2sympy`), so on that path the two graders
parse with the same latex2sympy, and no disagreement can come from it.
"""

from bmc.evaluation.math_released import _latex2sympy as latex2sympy

__all__ = ["latex2sympy"]
