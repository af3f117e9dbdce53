"""Test doubles shared by the SDK's client tests (standard library only)."""

import asyncio


class FakeCall:
    """A broker `call` for the capability clients: records (op, params) and
    answers with the next of `answers` (an Exception is raised), then with
    `result`, or raises `error` when one is given."""

    def __init__(self, *answers, result=None, error=None):
        self.calls = []
        self.answers = list(answers)
        self.result = result
        self.error = error

    async def __call__(self, op, params):
        self.calls.append((op, params))
        if self.answers:
            answer = self.answers.pop(0)
            if isinstance(answer, Exception):
                raise answer
            return answer
        if self.error is not None:
            raise self.error
        return self.result


def run(coroutine):
    return asyncio.run(coroutine)
