import pytest

from shotline.learning.labels import validate_label_name
from shotline.errors import BadInput


@pytest.mark.parametrize("name", ["car-chase", "a", "x9_y-z", "0" * 64])
def test_valid_label_names(name):
    assert validate_label_name(name) == name


@pytest.mark.parametrize("name", ["", "Car", "_x", "-x", "a b", "a/b", "é", "a" * 65, None, 3])
def test_bad_label_names(name):
    with pytest.raises(BadInput) as e:
        validate_label_name(name)
    assert e.value.reason == "bad_label_name"
