"""The generator's command-line hook (registered by sim/cli/trace.py as `trace generate`)."""

from __future__ import annotations

import argparse

import pytest

from sim.errors import CposimError
from workloads.generator.cli import add_arguments, generate_from_args


def _parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_arguments(p)
    return p.parse_args(list(argv))


def test_defaults_derive_dp_and_sp():
    tr = generate_from_args(_parse("--model", "gpt3-175b", "--gpus", "128", "--tp", "8",
                                   "--pp", "8", "--global-batch", "32"))
    par = tr.metadata["parallelism"]
    assert (par["dp"], par["sp"], par["zero"], par["micro_batches"]) == (2, True, 1, 16)
    assert tr.metadata["schedule"] == "1f1b" and tr.metadata["gpu"]["name"] == "h100"


def test_all_options():
    a = _parse("--model", "mixtral-8x7b", "--gpus", "64", "--tp", "2", "--pp", "4", "--dp", "8",
               "--ep", "4", "--vpp", "2", "--sp", "--zero", "0", "--micro-batch", "2",
               "--global-batch", "128", "--seq-len", "2048", "--gpu", "gb300", "--mfu", "0.4",
               "--recompute", "--bucket-size", "25M")
    tr = generate_from_args(a)
    md = tr.metadata
    assert md["schedule"] == "interleaved"             # implied by --vpp 2
    assert md["parallelism"]["recompute"] == "full"    # bare --recompute
    assert md["parallelism"]["bucket_size_params"] == 25e6
    assert md["parallelism"]["sp"] is True and md["parallelism"]["ep"] == 4
    assert md["gpu"]["name"] == "gb300" and md["gpu"]["fraction"] == 0.4
    assert {"tp", "pp", "dp", "ep", "dp_ep"} <= set(tr.groups)


def test_bad_values_raise_cposim_error():
    with pytest.raises(CposimError) as e:
        generate_from_args(_parse("--model", "llama3-8b", "--gpus", "8", "--bucket-size", "x"))
    assert e.value.field == "--bucket-size"
    with pytest.raises(CposimError) as e:
        generate_from_args(_parse("--model", "llama3-8b", "--gpus", "12", "--tp", "8"))
    assert e.value.field == "gpus"
    with pytest.raises(CposimError) as e:
        generate_from_args(_parse("--model", "mixtral-8x7b", "--gpus", "16", "--tp", "2",
                                  "--ep", "2", "--no-sp", "--global-batch", "8"))
    assert e.value.field == "sp"
    with pytest.raises(SystemExit):
        _parse("--model", "gpt-5", "--gpus", "8")


def test_cposim_trace_generate_end_to_end(tmp_path, capsys):
    from sim.cli import main

    out = tmp_path / "t.cposim.json"
    rc = main(["trace", "generate", "--model", "llama3-8b", "--gpus", "16", "--tp", "4",
               "--pp", "2", "--global-batch", "4", "--seq-len", "1024", "--out", str(out)])
    assert rc == 0 and out.exists()
    rc = main(["trace", "generate", "--model", "llama3-8b", "--gpus", "16", "--tp", "3"])
    assert rc == 2 and "gpus" in capsys.readouterr().err


def test_bucket_size_default_follows_megatron():
    tr = generate_from_args(_parse("--model", "llama3-8b", "--gpus", "128", "--global-batch",
                                   "128", "--seq-len", "512"))
    assert tr.metadata["parallelism"]["bucket_size_params"] == 128e6   # max(40M, 1M * 128)
