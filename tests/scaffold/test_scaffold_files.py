"""``mail2dataverse scaffold``: the files written, their shape, and that none holds a secret."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from mail2dataverse import hosting, scaffold
from mail2dataverse.cli import main

from .conftest import handlers, scaffold_args

REPO = Path(__file__).resolve().parents[2]

# Values that look like credentials: keys, SAS tokens, connection strings, PEM blocks, JWTs,
# long base64/hex runs. The placeholders in the templates are empty strings or <angle> words.
SECRET_PATTERNS = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"AccountKey=", re.I),
    re.compile(r"SharedAccessSignature|[?&]sig=", re.I),
    re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),  # a JWT
    re.compile(r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{40,}={0,2}(?![A-Za-z0-9+/])"),  # base64 blob
    re.compile(r"\b[0-9a-fA-F]{32,}\b"),  # hex key
    re.compile(r"[?&]code=[^&\s'\"]+"),  # a function key in a URL
]
SECRET_SETTINGS = ("AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE", "AZURE_CLIENT_CERTIFICATE_PASSWORD",
                   "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_CERTIFICATE_PATH", "DATAVERSE_URL")

HOST_SCHEMA = {
    "type": "object",
    "required": ["version", "extensionBundle", "functionTimeout", "extensions"],
    "properties": {
        "version": {"const": "2.0"},
        "extensionBundle": {
            "type": "object",
            "required": ["id", "version"],
            "properties": {
                "id": {"const": "Microsoft.Azure.Functions.ExtensionBundle"},
                # a version range that admits bundle 4 (queues extension 5.x)
                "version": {"type": "string", "pattern": r"^\[4\.\*, 5\.0\.0\)$"},
            },
        },
        "functionTimeout": {"type": "string", "pattern": r"^\d{2}:\d{2}:\d{2}$"},
        "extensions": {
            "type": "object",
            "required": ["queues"],
            "properties": {
                "queues": {
                    "type": "object",
                    "required": ["maxDequeueCount", "visibilityTimeout"],
                    "properties": {
                        "maxDequeueCount": {"type": "integer", "minimum": 1},
                        "visibilityTimeout": {"type": "string", "pattern": r"^\d{2}:\d{2}:\d{2}$"},
                        "batchSize": {"type": "integer", "minimum": 1, "maximum": 32},
                    },
                }
            },
        },
    },
}


def test_azure_function_writes_every_file(app_dir):
    names = sorted(p.name for p in app_dir.iterdir())
    assert names == sorted([".funcignore", "README.md", "function_app.py", "host.json", "local.settings.json", "requirements.txt"])
    for dest, content in scaffold.planned_files("azure-function", app_dir).items():
        assert dest.read_bytes() == content  # copied verbatim, nothing to fill in


def test_existing_files_need_force_and_nothing_is_half_written(tmp_path, capsys):
    app = tmp_path / "app"
    assert main(["scaffold", "azure-function", str(app)]) == 0
    (app / "host.json").write_text("{}")  # a user's edit
    (app / "README.md").unlink()
    capsys.readouterr()
    assert main(["scaffold", "azure-function", str(app)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exists; use --force" in err
    assert (app / "host.json").read_text() == "{}"  # untouched
    assert not (app / "README.md").exists()  # no partial write either
    assert main(["scaffold", "azure-function", str(app), "--force"]) == 0
    assert json.loads((app / "host.json").read_text())["version"] == "2.0"


def test_power_automate_writes_one_file_and_refuses_a_folder(tmp_path, capsys):
    flow = tmp_path / "flows" / "m2d-flow.json"
    assert scaffold.run(scaffold_args("power-automate", flow)) == 0
    assert json.loads(flow.read_text("utf-8"))["schemaVersion"] == "1.0.0.0"
    assert scaffold.run(scaffold_args("power-automate", flow)) == 2
    assert scaffold.run(scaffold_args("power-automate", flow, force=True)) == 0
    capsys.readouterr()
    assert scaffold.run(scaffold_args("power-automate", tmp_path)) == 2
    assert "is a folder" in capsys.readouterr().err


def test_no_generated_file_holds_a_secret(app_dir, tmp_path):
    flow = tmp_path / "flow.json"
    scaffold.write("power-automate", flow)
    for path in [*app_dir.iterdir(), flow]:
        text = path.read_text("utf-8")
        for pattern in SECRET_PATTERNS:
            assert not pattern.search(text), f"{path.name}: secret-looking text {pattern.search(text).group(0)!r}"
    values = json.loads((app_dir / "local.settings.json").read_text())["Values"]
    for name in SECRET_SETTINGS:
        assert values[name] == "", f"local.settings.json: {name} must be an empty template value"
    params = json.loads(flow.read_text())["properties"]["definition"]["parameters"]
    assert params["FunctionKey"] == {**params["FunctionKey"], "type": "SecureString", "defaultValue": ""}


def test_host_json_validates_and_matches_the_poison_threshold(app_dir):
    host = json.loads((app_dir / "host.json").read_text())
    jsonschema.validate(host, HOST_SCHEMA)
    settings = json.loads((app_dir / "local.settings.json").read_text())
    assert settings["IsEncrypted"] is False
    values = settings["Values"]
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    # The handler reports poison on the attempt the runtime would otherwise move it silently.
    assert int(values["MAIL2DATAVERSE_MAX_DEQUEUE"]) == host["extensions"]["queues"]["maxDequeueCount"]
    assert hosting.DEFAULT_MAX_DEQUEUE == host["extensions"]["queues"]["maxDequeueCount"]
    assert re.fullmatch(r"[a-z0-9](?:[a-z0-9]|-(?!-)){2,56}", values["MAIL2DATAVERSE_QUEUE"])  # + "-poison" ≤ 63
    assert len(values["MAIL2DATAVERSE_SCHEDULE"].split()) == 6  # NCRONTAB has seconds


def test_requirements_name_the_runtime_and_the_library_without_tight_pins(app_dir):
    lines = [ln.strip() for ln in (app_dir / "requirements.txt").read_text().splitlines()]
    reqs = [ln for ln in lines if ln and not ln.startswith("#")]
    assert {re.split(r"[<>=!~ ]", r)[0] for r in reqs} == {"azure-functions", "mail2dataverse"}
    assert not any("==" in r for r in reqs)


def test_function_app_declares_the_four_functions(function_app):
    functions = {f.get_function_name(): json.loads(f.get_function_json()) for f in function_app.app.get_functions()}
    assert set(functions) == {"sync", "sync_timer", "enqueue", "queue_sync"}
    assert set(handlers(function_app)) == set(functions)

    def binding(name, type_):
        return next(b for b in functions[name]["bindings"] if b["type"] == type_)

    http = binding("sync", "httpTrigger")
    assert (http["route"], http["methods"], http["authLevel"]) == ("sync", ["POST"], "FUNCTION")
    assert binding("sync_timer", "timerTrigger")["schedule"] == "%MAIL2DATAVERSE_SCHEDULE%"
    assert binding("enqueue", "httpTrigger")["authLevel"] == "FUNCTION"
    assert binding("enqueue", "queue")["queueName"] == "%MAIL2DATAVERSE_QUEUE%"
    assert binding("queue_sync", "queueTrigger")["queueName"] == "%MAIL2DATAVERSE_QUEUE%"
    poison = binding("queue_sync", "queue")
    assert (poison["direction"], poison["queueName"]) == ("OUT", "%MAIL2DATAVERSE_QUEUE%-poison")


def test_every_setting_is_documented_in_both_guides(app_dir):
    values = json.loads((app_dir / "local.settings.json").read_text())["Values"]
    ours = [k for k in values if k.startswith(("MAIL2DATAVERSE_", "AZURE_CLIENT", "AZURE_TENANT", "DATAVERSE_"))]
    hosting_reads = set(re.findall(r"\"(MAIL2DATAVERSE_[A-Z_]+|DATAVERSE_URL|DYNAMICS_ORG)\"", Path(hosting.__file__).read_text()))
    assert hosting_reads <= set(ours) | {"DYNAMICS_ORG"}
    for doc in (app_dir / "README.md", REPO / "docs" / "deploy.md"):
        text = doc.read_text("utf-8")
        missing = [k for k in ours if f"`{k}`" not in text]
        assert not missing, f"{doc.name} does not document {missing}"


# ---------------------------------------------------------------------------------------------
# the Power Automate flow definition
# ---------------------------------------------------------------------------------------------

RUN_STATUSES = {"Succeeded", "Failed", "Skipped", "TimedOut"}
RECURRENCE_FREQUENCIES = {"Second", "Minute", "Hour", "Day", "Week", "Month"}
KNOWN_ACTION_TYPES = {"Http", "If", "OpenApiConnection", "Compose", "Scope"}


def validate_flow(doc: dict) -> list[str]:
    """Structural checks of an importable cloud flow (Dataverse ``workflow.clientdata`` shape):
    the definition language's top level, the trigger, and a consistent runAfter graph in every
    scope (names exist in the same scope, valid statuses, no cycle), every parameter and
    connection reference used is declared."""
    problems: list[str] = []
    props = doc.get("properties", {})
    definition = props.get("definition", {})
    if doc.get("schemaVersion") != "1.0.0.0":
        problems.append("schemaVersion must be 1.0.0.0")
    if not str(definition.get("$schema", "")).endswith("/2016-06-01/workflowdefinition.json#"):
        problems.append("definition.$schema is not the workflow definition language schema")
    if definition.get("contentVersion") != "1.0.0.0":
        problems.append("definition.contentVersion missing")
    params = definition.get("parameters", {})
    for name, spec in params.items():
        if spec.get("type") not in {"String", "SecureString", "Object", "SecureObject", "Int", "Bool", "Array"}:
            problems.append(f"parameter {name}: bad type {spec.get('type')!r}")
    triggers = definition.get("triggers", {})
    if len(triggers) != 1:
        problems.append("a flow has exactly one trigger")
    rec = triggers.get("Recurrence", {})
    if rec.get("type") != "Recurrence" or rec.get("recurrence", {}).get("frequency") not in RECURRENCE_FREQUENCIES:
        problems.append("the trigger must be a Recurrence with a valid frequency")
    if not isinstance(rec.get("recurrence", {}).get("interval"), int):
        problems.append("Recurrence.interval must be an integer")
    refs = props.get("connectionReferences", {})

    def scope(actions: dict, where: str) -> None:
        for name, action in actions.items():
            if not re.fullmatch(r"[A-Za-z0-9_()-]+", name):
                problems.append(f"{where}{name}: action names use no spaces")
            if action.get("type") not in KNOWN_ACTION_TYPES:
                problems.append(f"{where}{name}: unknown type {action.get('type')!r}")
            for dep, statuses in action.get("runAfter", {}).items():
                if dep not in actions:
                    problems.append(f"{where}{name}: runAfter {dep!r} is not in the same scope")
                if not statuses or set(statuses) - RUN_STATUSES:
                    problems.append(f"{where}{name}: runAfter {dep!r} has bad statuses {statuses}")
            if action.get("type") == "If":
                if not action.get("expression"):
                    problems.append(f"{where}{name}: If without expression")
                scope(action.get("actions", {}), f"{where}{name}/")
                scope(action.get("else", {}).get("actions", {}), f"{where}{name}/else/")
            if action.get("type") == "OpenApiConnection":
                host = action["inputs"]["host"]
                if host.get("connectionName") not in refs:
                    problems.append(f"{where}{name}: connection {host.get('connectionName')!r} not in connectionReferences")
        # no cycle: repeatedly remove actions whose predecessors are all removed
        pending = {n: set(a.get("runAfter", {})) for n, a in actions.items()}
        while pending:
            ready = [n for n, deps in pending.items() if not deps & set(pending)]
            if not ready:
                problems.append(f"{where}: runAfter cycle among {sorted(pending)}")
                break
            for n in ready:
                del pending[n]
        if actions and not any(not a.get("runAfter") for a in actions.values()):
            problems.append(f"{where}: no action starts the scope")

    scope(definition.get("actions", {}), "")
    for used in set(re.findall(r"parameters\('([^']+)'\)", json.dumps(definition))):
        if used not in params:
            problems.append(f"parameter {used!r} is used but not declared")
    for used in set(re.findall(r"(?:outputs|body)\('([^']+)'\)", json.dumps(definition))):
        if used not in definition.get("actions", {}):
            problems.append(f"expression refers to unknown action {used!r}")
    return problems


@pytest.fixture
def flow(tmp_path) -> dict:
    path = tmp_path / "flow.json"
    scaffold.write("power-automate", path)
    return json.loads(path.read_text("utf-8"))


def test_flow_definition_is_structurally_valid(flow):
    assert validate_flow(flow) == []


def test_flow_calls_the_function_with_its_key_from_a_parameter_and_hides_it(flow):
    actions = flow["properties"]["definition"]["actions"]
    http = actions["Call_mail2dataverse"]
    assert http["type"] == "Http" and http["runAfter"] == {}
    assert http["inputs"]["method"] == "POST"
    assert http["inputs"]["uri"] == "@parameters('FunctionUrl')"
    assert http["inputs"]["headers"]["x-functions-key"] == "@parameters('FunctionKey')"
    assert http["runtimeConfiguration"]["secureData"]["properties"] == ["inputs"]  # not in run history
    # A 500 means a mailbox failed; retrying the whole sync is the next run's job, not the flow's.
    assert http["inputs"]["retryPolicy"] == {"type": "none"}


def test_flow_condition_sees_failures_and_timeouts_and_emails_them(flow):
    cond = flow["properties"]["definition"]["actions"]["Sync_succeeded"]
    assert cond["type"] == "If"
    # The notification must also run when the HTTP action failed (500) or timed out.
    assert set(cond["runAfter"]["Call_mail2dataverse"]) >= {"Succeeded", "Failed", "TimedOut"}
    text = json.dumps(cond["expression"])
    assert "['ok']" in text and "statusCode" in text
    email = cond["else"]["actions"]["Send_failure_email"]
    assert email["inputs"]["host"]["operationId"] == "SendEmailV2"
    assert email["inputs"]["parameters"]["emailMessage/To"] == "@parameters('NotifyTo')"
    body = email["inputs"]["parameters"]["emailMessage/Body"]
    for field in ("['summary']", "['records_failed']", "['mailboxes_failed']", "['error']"):
        assert field in body


def test_flow_validator_catches_broken_graphs(flow):
    actions = flow["properties"]["definition"]["actions"]
    actions["Call_mail2dataverse"]["runAfter"] = {"Sync_succeeded": ["Succeeded"]}
    actions["Sync_succeeded"]["runAfter"] = {"Call_mail2dataverse": ["Done"]}
    actions["Sync_succeeded"]["else"]["actions"]["Send_failure_email"]["inputs"]["host"]["connectionName"] = "x"
    problems = "\n".join(validate_flow(flow))
    assert "cycle" in problems and "bad statuses" in problems and "not in connectionReferences" in problems
