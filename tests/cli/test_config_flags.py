import argparse
from dataclasses import dataclass

import pytest

from millivid_env.cli.config_flags import add_config_flags, field_comments, with_flags
from millivid_env.errors import UserError


@dataclass(frozen=True)
class Toy:
    steps: int = 10  # optimizer steps
    # Share of the batch that keeps every level,
    # spread over two lines.
    share: float = 0.5
    head: bool = False
    windows: tuple[int, ...] = (3, 12)  # frames per level window
    name: str = "learned"

    def __post_init__(self) -> None:
        if not 0 <= self.share <= 1:
            raise UserError(f"share must be in [0, 1], got {self.share}")


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_config_flags(parser, Toy)
    return parser.parse_args(argv)


def test_every_field_gets_a_typed_flag_with_its_comment_as_help():
    assert field_comments(Toy) == {"steps": "optimizer steps", "share": "Share of the batch that keeps every level, spread over two lines.",
                                   "windows": "frames per level window"}
    args = parse("--steps", "7", "--share", "1", "--head", "--windows", "2,8,32", "--name", "cascaded")
    assert with_flags(Toy(), args) == Toy(steps=7, share=1.0, head=True, windows=(2, 8, 32), name="cascaded")


def test_a_flag_left_out_keeps_the_base_value():
    base = Toy(steps=99, head=True)
    assert with_flags(base, parse("--no-head")) == Toy(steps=99, head=False)
    assert with_flags(base, parse()) == base


def test_values_are_checked_by_the_dataclass_and_the_parser():
    with pytest.raises(UserError, match=r"share must be in \[0, 1\], got 1.5"):
        with_flags(Toy(), parse("--share", "1.5"))
    with pytest.raises(SystemExit):
        parse("--windows", "3,x")
