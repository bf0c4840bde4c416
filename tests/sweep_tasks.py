"""Toy sweep tasks for the tests (importable by worker processes)."""

import numpy as np


def square(config: dict, seed: int) -> dict:
    if config.get("x") == "boom":
        raise ValueError("boom")
    rng = np.random.default_rng(seed)
    return {"y": float(config["x"]) ** 2 + float(config.get("offset", 0)),
            "noise": float(rng.standard_normal())}


def slow_square(config: dict, seed: int) -> dict:
    import time

    time.sleep(float(config.get("sleep_s", 0.2)))
    return square(config, seed)
