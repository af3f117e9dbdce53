"""Tests for Greeter.

Run from this directory with the Magic SDK on PYTHONPATH:
    PYTHONPATH=<magic>/sdk/python python3 -m unittest
"""

import json
import pathlib
import unittest

from magic.testing import run_controller

from greeter import GreeterController

HERE = pathlib.Path(__file__).resolve().parent


class GreeterTest(unittest.TestCase):
    def test_sample_input(self):
        sample = json.loads((HERE / "sample_input.json").read_text())
        output = run_controller(GreeterController, sample, request_id="req_test")
        self.assertEqual(output["message"], "Hello, World!")
        self.assertEqual(output["request_id"], "req_test")


if __name__ == "__main__":
    unittest.main()
