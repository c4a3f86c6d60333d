import pytest

from bmc.llm.clients import ChatClient

PAIR = {
    "id": "ECQA-train-1",
    "task": "qa",
    "prompt": [{"role": "user", "content": "Where do fish live?\nOptions:\nwater\ndesert"}],
    "chosen": "Let's think step by step.\nFish need water.\nThe answer is water",
    "rejected": "Let's think step by step.\nFish like sand.\nThe answer is desert",
    "answer": "water",
}
GOOD_EDIT = "Let's think step by step.\nFish like water.\nThe answer is water"


def make_pairs(n: int) -> list[dict]:
    return [
        {**PAIR, "id": f"ECQA-train-{i}", "prompt": [{"role": "user", "content": f"Where do fish {i} live?"}]}
        for i in range(n)
    ]


class CountingEditor(ChatClient):
    """Answers every request with `text`; counts requests and can fail on a given call (a killed run)."""

    def __init__(self, text: str = GOOD_EDIT, fail_on_call: int | None = None):
        super().__init__()
        self.text, self.fail_on_call, self.calls = text, fail_on_call, 0

    def complete(self, requests):
        self.calls += 1
        if self.calls == self.fail_on_call:
            raise KeyboardInterrupt("killed")
        self.usage["requests"] += len(requests)
        return [self.text] * len(requests)


@pytest.fixture
def pairs():
    return make_pairs(5)
