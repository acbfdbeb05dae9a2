import pytest

from ganlab.registry import Registry


def make():
    reg = Registry("widget")

    @reg.register("box")
    def box(size: int, ratio: float = 0.5, name: str = "b", on: bool = True):
        return (size, ratio, name, on)

    return reg


def test_builds_by_name_with_kwargs():
    assert make().build("box", size=3, ratio=1) == (3, 1, "b", True)


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match=r"unknown widget 'bx' \(widget=bx\); available: box"):
        make().build("bx", size=1)


def test_unknown_argument_lists_valid_ones():
    with pytest.raises(TypeError, match="unknown argument 'sise'; valid: size, ratio, name, on"):
        make().build("box", sise=1)


@pytest.mark.parametrize("kwargs", [{"size": "big"}, {"size": 1.5}, {"size": 1, "on": "yes"}, {"size": True}])
def test_wrong_types_are_rejected_with_the_value(kwargs):
    with pytest.raises(TypeError, match="must be"):
        make().build("box", **kwargs)


def test_missing_required_argument():
    with pytest.raises(TypeError, match="missing required argument.*size"):
        make().build("box")


def test_duplicate_registration_fails():
    reg = make()
    with pytest.raises(ValueError, match="registered twice"):
        reg.register("box")(lambda: None)
