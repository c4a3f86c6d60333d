"""Stand-in of the authors' eval/math/eval/parser.py for the paper rehearsal: the functions their math driver
calls, answered by the suite's re-implementation of the released rule."""

from bmc.data.math import question_text
from bmc.evaluation.math_answers import gold_answer
from bmc.evaluation.math_released import released_gold, released_prediction


def parse_question(example, data_name):
    return question_text(example, data_name)


def parse_ground_truth(example, data_name):
    if "gt" in example:
        return example["gt_cot"], example["gt"]
    return None, released_gold(gold_answer(example, data_name).strip(), data_name)


def run_execute(executor, result, prompt_type, data_name, execute=False):
    return released_prediction(result) or "", ""
