"""Undefined names found without running the code: each one a run could miss is named with
its line; every way a program binds a name is seen, so correct code is never blamed."""

import pytest

from azuraforge.assist.names import undefined_names


@pytest.mark.parametrize(
    ("code", "found"),
    [
        ("def area(r):\n    return pi * r ** 2\n", [("pi", 2)]),
        ("if __name__ == '__main__':\n    print(maths.pi)\n", [("maths", 2)]),
        ("class Box:\n    def grow(self):\n        return sizes[0] + sizes[1]\n", [("sizes", 3)]),
        ("class A:\n    y = 1\n    def m(self):\n        return y\n", [("y", 4)]),  # class scope
        ("def f(x) -> List[int]:\n    return [x]\n", [("List", 1)]),
        ("b = a\nc = [q for q in qs]\n", [("a", 1), ("qs", 2)]),
    ],
)
def test_a_name_nothing_defines_is_found_with_its_line(code, found):
    assert undefined_names(code) == found


@pytest.mark.parametrize(
    "code",
    [
        "import os\nprint(os.sep, len([]), __name__, __file__)\n",
        "def f():\n    global X\n    X = 1\n\ndef g():\n    return X\n",
        "def f():\n    return later()\n\ndef later():\n    return 1\n",
        "xs = [i * i for i in range(3)]\nclass A:\n    y = 2\n    z = y + 1\n",
        "try:\n    import numpy as np\nexcept ImportError as e:\n    np = None\n    print(e)\n",
        "def outer():\n    a = 1\n    def inner():\n        return a\n    return inner\n",
        "if (n := 10) > 5:\n    print(n)\nsquare = lambda q: q * q\n",
        "match [1, 2]:\n    case [a, b]:\n        print(a, b)\n"
        "    case {'k': v}:\n        print(v)\n",
        "for i in range(2):\n    pass\nwith open('f') as fh:\n    print(fh, i)\n",
        "from math import *\nprint(sqrt(2))\n",  # a star import may bind any name
        "def f(:\n",  # does not compile: the run says so
    ],
)
def test_correct_code_is_never_blamed(code):
    assert undefined_names(code) == []
