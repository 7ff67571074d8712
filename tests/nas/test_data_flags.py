"""Every command that trains takes several --data and --val-data folders, and a repeated flag keeps them all
(argparse keeps only the last of a plain option: a dropped folder would train unnoticed)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import pytest


def search(argv: list[str]) -> Any:
    from nas.search.__main__ import config_of, parse_args

    return config_of(parse_args(["--study", "tiny", *argv]))


def fidelity(argv: list[str]) -> Any:
    from nas.fidelity import parse_args

    return parse_args(["--study", "tiny", *argv])  # nas.fidelity's runs read the parsed arguments


def verdict(argv: list[str]) -> Any:
    from nas.verdict import config_of, parse_args

    return config_of(parse_args(["--study", "tiny", *argv]))


def train(argv: list[str]) -> Any:
    from nas.train import config_of, parse_args

    return config_of(parse_args(["--arch", "a.json", *argv]))


TRAINING_COMMANDS: dict[str, Callable[[list[str]], Any]] = {
    "nas.search": search,
    "nas.fidelity": fidelity,
    "nas.verdict": verdict,
    "nas.train": train,
}


@pytest.mark.parametrize("command", TRAINING_COMMANDS)
def test_repeated_data_flags_are_all_kept(command: str):
    argv = ["--data", "T91", "--data", "BSD200", "--data", "DIV2K", "--val-data", "Set5", "--val-data", "Set14"]
    config = TRAINING_COMMANDS[command](argv)
    assert config.data == ("T91", "BSD200", "DIV2K") and config.val_data == ("Set5", "Set14")


@pytest.mark.parametrize("command", TRAINING_COMMANDS)
def test_no_data_flag_means_the_bundled_photos(command: str):
    config = TRAINING_COMMANDS[command]([])
    assert config.data == () and config.val_data == ()


def test_nas_evaluate_scores_every_data_folder():
    from nas.evaluate import parse_args

    args: argparse.Namespace = parse_args(["--data", "Set5", "--data", "Set14", "--scale", "4", "--bicubic"])
    assert args.data == ["Set5", "Set14"]
