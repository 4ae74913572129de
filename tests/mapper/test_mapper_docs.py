"""The mapping schema documents itself, docs/mappings.md is up to date, shipped files are tidy."""

from __future__ import annotations

from pathlib import Path

from jsonschema import Draft202012Validator

from mail2dataverse.mapper import mapping_schema
from mail2dataverse.mapper.docs import BEGIN, END, render_reference, splice
from mail2dataverse.mapper.functions import ENGINE_FUNCTION_DOCS, engine_functions
from mail2dataverse.mapper.transforms import builtin_transform_docs

from mapper_fakes import FakePlugins

ROOT = Path(__file__).parents[2]
PAGE = ROOT / "docs" / "mappings.md"


def _properties(node, path="$"):
    """Yield (path, schema) for every property declared anywhere in the schema."""
    if isinstance(node, dict):
        for name, prop in node.get("properties", {}).items():
            yield f"{path}.{name}", prop
            yield from _properties(prop, f"{path}.{name}")
        for name, sub in node.get("$defs", {}).items():
            yield from _properties(sub, f"$defs.{name}")


def test_schema_is_a_valid_2020_12_schema():
    Draft202012Validator.check_schema(mapping_schema())


def test_every_property_has_description_and_examples():
    missing = [
        path for path, prop in _properties(mapping_schema()) if not prop.get("description") or not prop.get("examples")
    ]
    assert missing == []


def test_every_definition_has_description_and_examples():
    for name, sub in mapping_schema()["$defs"].items():
        assert sub.get("description") and sub.get("examples"), name


def test_examples_validate_against_their_schema():
    schema = mapping_schema()
    for path, prop in _properties(schema):
        resolved = {**prop, "$defs": schema["$defs"]}
        validator = Draft202012Validator(resolved)
        for example in prop["examples"]:
            assert not list(validator.iter_errors(example)), (path, example)


def test_docs_page_reference_is_current():
    page = PAGE.read_text("utf-8")
    assert BEGIN in page and END in page
    assert splice(page, render_reference()) == page, "run: python -m mail2dataverse.mapper.docs --write docs/mappings.md"


def test_docs_mention_every_transform_function_and_key():
    page = PAGE.read_text("utf-8")
    for spec in builtin_transform_docs():
        assert f"`{spec.usage}`" in page
    assert set(ENGINE_FUNCTION_DOCS) == set(engine_functions(FakePlugins()))
    for name in ENGINE_FUNCTION_DOCS:
        assert f"`{name}(" in page
    for path, _ in _properties(mapping_schema()):
        assert f"`{path.rsplit('.', 1)[-1]}`" in page, path


def test_shipped_files_carry_the_schema_modeline():
    for name in ("contact.yaml", "account.yaml", "email.yaml"):
        first = (ROOT / "mappings" / name).read_text("utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=../schemas/mapping.schema.json", name


def _modeline_target(folder, name):
    first = folder.joinpath(name).read_text("utf-8").splitlines()[0]
    relative = first.partition("$schema=")[2]
    return Path(str(folder)) / relative


def test_modeline_resolves_in_the_repo_and_in_the_installed_package():
    # The editor resolves the path against the file it opened: the repo checkout, or the
    # installed package (site-packages/mail2dataverse/mappings/). Both must reach the schema.
    from importlib import resources

    installed = resources.files("mail2dataverse.mappings")
    for folder in (ROOT / "mappings", installed):
        for name in ("contact.yaml", "account.yaml", "email.yaml"):
            target = _modeline_target(folder, name).resolve()
            assert target.is_file(), (folder, name, target)
            assert target.name == "mapping.schema.json"
    assert (Path(str(installed)) / "../schemas/mapping.schema.json").resolve() == (
        Path(str(resources.files("mail2dataverse.schemas"))) / "mapping.schema.json"
    ).resolve()
