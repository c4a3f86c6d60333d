"""Stand-in of the authors' eval/QA/<set>/eval.py for the paper rehearsal: the same command line, `vllm` import,
prompt, result file and printed accuracy, grading with the suite's re-implementation of their QA rule."""

import argparse
import json

from vllm import LLM, SamplingParams

from bmc.data.tasks import answer_prompt
from bmc.evaluation.qa import released_is_correct, released_prediction


def main(args):
    model = LLM(model=args.model)
    params = SamplingParams(temperature=0.0, top_p=1, max_tokens=512, stop=["Question"])
    rows = [json.loads(line) for line in open(args.dev_file) if line.strip()]
    correct = 0
    with open(args.result_file, "w") as out:
        for row in rows:
            prompt = answer_prompt("qa", row["problem"])
            response = model.generate([prompt], params)[0].outputs[0].text
            pred = released_prediction(response)
            correct += released_is_correct(pred, row["answer"])
            record = {"prompt": prompt, "real_ans": row["answer"], "prediction": response, "pred_ans": pred}
            out.write(json.dumps(record) + "\n")
    accuracy = round(correct / len(rows) * 100, 2)
    print(f"Accuracy: {accuracy} ( {correct} / {len(rows)} )")
    with open("../output.txt", "a") as f:
        f.write(f"Accuracy: {accuracy} ( {correct} / {len(rows)} )\n")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    for name in ("--model", "--train_file", "--dev_file", "--result_file"):
        p.add_argument(name)
    p.add_argument("--n_shot", type=int, default=0)
    main(p.parse_args())
