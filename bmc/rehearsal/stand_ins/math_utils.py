"""Stand-in of the authors' eval/math/eval/utils.py for the paper rehearsal: the suite's math prompt."""

from bmc.data.tasks import answer_prompt


def construct_prompt(example, data_name, args):
    return answer_prompt("math", example["question"])
