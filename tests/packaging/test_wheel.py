"""The built wheel holds every subpackage and data file; editable installs hide omissions."""

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    # --no-isolation: build with the setuptools of the test environment, offline and fast.
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("mail2dataverse-*.whl")
    return built


@pytest.fixture(scope="module")
def wheel_names(wheel) -> set[str]:
    with zipfile.ZipFile(wheel) as zf:
        return set(zf.namelist())


def _expected_packages() -> dict[str, Path]:
    mapping = {"mail2dataverse": ROOT / "engine", "mail2dataverse/plugins": ROOT / "plugins"}
    found = {}
    for prefix, folder in mapping.items():
        for init in folder.rglob("__init__.py"):
            rel = init.parent.relative_to(folder)
            if "example_plugin" in rel.parts:
                continue
            found[str(Path(prefix) / rel).replace("\\", "/").rstrip("/.")] = init.parent
    found["mail2dataverse/mappings"] = ROOT / "mappings"
    found["mail2dataverse/schemas"] = ROOT / "schemas"
    return found


def test_every_subpackage_is_in_the_wheel(wheel_names):
    for package in _expected_packages():
        assert f"{package}/__init__.py" in wheel_names, package


def test_every_mapping_and_schema_file_is_in_the_wheel(wheel_names):
    for yaml_file in (ROOT / "mappings").glob("*.yaml"):
        assert f"mail2dataverse/mappings/{yaml_file.name}" in wheel_names
    for schema in (ROOT / "schemas").glob("*.json"):
        assert f"mail2dataverse/schemas/{schema.name}" in wheel_names
    assert "mail2dataverse/samples/messages.json" in wheel_names
    assert "mail2dataverse/samples/config.yaml" in wheel_names
    assert "mail2dataverse/emulator/schema_data.json" in wheel_names
    assert "mail2dataverse/emulator/schema_overrides.yaml" in wheel_names


def test_mapping_modelines_resolve_inside_the_wheel(wheel, wheel_names):
    # Editors open the installed files: the relative $schema path must exist there too.
    import posixpath

    with zipfile.ZipFile(wheel) as zf:
        for name in sorted(n for n in wheel_names if n.startswith("mail2dataverse/mappings/") and n.endswith(".yaml")):
            first = zf.read(name).decode("utf-8").splitlines()[0]
            assert first.startswith("# yaml-language-server: $schema="), name
            target = posixpath.normpath(posixpath.join(posixpath.dirname(name), first.partition("$schema=")[2]))
            assert target in wheel_names, (name, target)


def test_example_plugin_package_is_not_in_the_wheel(wheel_names):
    assert not [n for n in wheel_names if "example_plugin" in n or n.startswith("m2d_example")]


def test_console_script_and_built_in_plugins_are_declared(wheel, wheel_names):
    (name,) = [n for n in wheel_names if n.endswith(".dist-info/entry_points.txt")]
    with zipfile.ZipFile(wheel) as zf:
        text = zf.read(name).decode()
    assert "mail2dataverse = mail2dataverse.cli:main" in text
    for plugin in ("freemail", "accounts", "regarding", "mbox"):
        assert f"{plugin} = mail2dataverse.plugins.{plugin}" in text


def test_building_prints_no_packaging_warning(tmp_path):
    """setuptools' warning blocks (a data folder absent from `packages`, license metadata...)
    appear on every install, `make demo` included; the build must be clean."""
    done = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, text=True,
    )
    output = done.stdout + done.stderr
    for sign in ("_Warning", "Warning:", "!!", "absent from the `packages`", "SetuptoolsDeprecationWarning"):
        assert sign not in output, output[-3000:]


def test_make_demo_installs_only_the_tool_and_make_test_the_test_extra():
    text = (ROOT / "Makefile").read_text("utf-8")
    rules = {}
    for block in text.split("\n\n"):
        head, _, body = block.strip().partition("\n")
        if ":" in head and not head.startswith(("#", ".PHONY")):
            rules[head.split(":")[0].strip()] = (head, body)
    assert "$(STAMP)" in rules["demo"][0] and "TEST_STAMP" not in rules["demo"][0]
    assert "-e ." in rules["$(STAMP)"][1] and "[test]" not in rules["$(STAMP)"][1]
    assert "$(TEST_STAMP)" in rules["test"][0] and "'.[test]'" in rules["$(TEST_STAMP)"][1]
