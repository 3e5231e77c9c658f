"""Code identity: which edits change a module's hash, and which modules a stage's identity covers."""

import textwrap

import pytest

from ddb.workflow.code_identity import CodeIndex, changed_modules, parse_identity, source_digest

ORIGINAL = '''
"""Module docstring."""
import math


def area(r):
    """Area of a circle."""
    # pi r^2
    return math.pi * r ** 2


class Box:
    """A box."""

    size: int = 1
    """The size (an attribute docstring)."""

    def volume(self):
        return self.size ** 3
'''


@pytest.mark.parametrize("edited", [
    ORIGINAL.replace('"""Area of a circle."""', '"""The area of a circle of radius r, in square units."""'),
    ORIGINAL.replace("# pi r^2", "# the formula everyone knows\n    # (twice)"),
    ORIGINAL.replace("return math.pi * r ** 2", "return (math.pi\n            * r ** 2)  # wrapped"),
    ORIGINAL.replace('"""Module docstring."""', ""),
    ORIGINAL.replace('    """The size (an attribute docstring)."""\n', ""),
    "\n\n" + ORIGINAL.replace("\n\n", "\n\n\n") + "\n# trailing comment\n",
], ids=["docstring", "comment", "formatting", "module_docstring_removed", "attribute_docstring", "blank_lines"])
def test_comment_docstring_and_formatting_edits_keep_the_hash(edited):
    assert source_digest(edited) == source_digest(ORIGINAL)


@pytest.mark.parametrize("edited", [
    ORIGINAL.replace("r ** 2", "r ** 3"),
    ORIGINAL.replace("size: int = 1", "size: int = 2"),
    ORIGINAL.replace("import math", "import math\nimport os"),
    ORIGINAL.replace("def volume(self):", "def volume(self, scale=1):"),
], ids=["arithmetic", "constant", "import", "signature"])
def test_behaviour_edits_change_the_hash(edited):
    assert source_digest(edited) != source_digest(ORIGINAL)


def test_a_function_reduced_to_its_docstring_is_a_pass():
    assert source_digest('def f():\n    """Nothing yet."""\n') == source_digest("def f():\n    pass\n")


def write(root, files):
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.fixture
def package(tmp_path):
    write(tmp_path, {
        "ddb/__init__.py": '"""The package."""\n',
        "ddb/stage.py": "from ddb.algorithms import maths\nfrom ddb.core.atomic import write\nimport numpy\n",
        "ddb/algorithms/__init__.py": "",
        "ddb/algorithms/maths.py": "from . import helpers\n\ndef f():\n    return helpers.g()\n",
        "ddb/algorithms/helpers.py": "def g():\n    return 1\n",
        "ddb/algorithms/unused.py": "X = 1\n",
        "ddb/core/__init__.py": "",
        "ddb/core/atomic.py": "def write():\n    from ..core import logs\n",
        "ddb/core/logs.py": "LEVEL = 1\n",
        "ddb/datasets/__init__.py": "",
        "ddb/datasets/one.py": "from ddb.datasets.common import square\n",
        "ddb/datasets/common.py": "def square(x):\n    return x * x\n",
    })
    return CodeIndex(tmp_path)


def test_closure_follows_imports_into_subpackages_relative_imports_and_packages(package):
    assert package.closure("ddb.stage") == [
        "ddb", "ddb.algorithms", "ddb.algorithms.helpers", "ddb.algorithms.maths", "ddb.core", "ddb.core.atomic",
        "ddb.core.logs", "ddb.stage"]  # not numpy (not ours), not algorithms.unused (not imported)


def test_modules_loaded_by_name_are_added_by_the_workflow(package):
    closure = package.closure("ddb.stage", "ddb.datasets.one")
    assert {"ddb.datasets", "ddb.datasets.one", "ddb.datasets.common"} <= set(closure)


def test_identity_names_every_module_and_moves_only_with_a_behaviour_edit(package, tmp_path):
    before = parse_identity(package.identity("ddb.stage"))
    assert sorted(before) == package.closure("ddb.stage")
    helpers = tmp_path / "ddb/algorithms/helpers.py"
    helpers.write_text('"""Now documented."""\n\n\ndef g():  # still one\n    return 1\n')
    assert parse_identity(CodeIndex(tmp_path).identity("ddb.stage")) == before
    helpers.write_text("def g():\n    return 2\n")
    after = parse_identity(CodeIndex(tmp_path).identity("ddb.stage"))
    assert changed_modules(before, after) == {"changed": ["ddb.algorithms.helpers"], "added": [], "removed": []}


def test_a_missing_module_is_an_error_not_a_silent_gap(package):
    with pytest.raises(ValueError, match="ddb.datasets.absent"):
        package.identity("ddb.stage", "ddb.datasets.absent")


def test_an_identity_of_another_scheme_is_recognised_as_such():
    assert parse_identity("3fa2c1d0e9b87766") is None
    assert parse_identity("ddb-code ast0 ddb:abc") is None
